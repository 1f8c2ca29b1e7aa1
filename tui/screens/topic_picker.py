"""Filter by topic: the 20 topics with their counts in the window, and "all topics"."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ..render import safe

ALL = "__all__"


class TopicPickerScreen(ModalScreen[str | None]):
    """Returns a topic label, ALL for no topic filter, or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, counts: dict[str, int], current: str | None = None) -> None:
        super().__init__()
        self.counts = counts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="topic-box", classes="picker") as box:
            box.border_title = "Filter by topic"
            box.border_subtitle = "Enter picks · Esc cancels"
            options = [Option(Text("All topics", style="italic"), id=ALL)]
            width = max((len(t) for t in self.counts), default=10)
            for topic, n in self.counts.items():
                label = Text(f"{safe(topic, 40):<{width}}  ")
                label.append(f"{n:>6,}", style="dim" if not n else "bold")
                options.append(Option(label, id=topic))
            yield OptionList(*options, id="topic-options")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ids = [ALL, *self.counts]
        ol.highlighted = ids.index(self.current) if self.current in ids else 0
        ol.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
