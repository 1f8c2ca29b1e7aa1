"""Pick the right label for a tweet (or for many): each class with the model's probability.

The model's choice is marked and highlighted first, so Enter on a correct guess confirms it;
an earlier correction is marked ✎. Returns (task, label), or None when cancelled.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from finterm.records import Scored

from ..palette import GLYPH
from ..render import safe

TASK_TITLES = {"sentiment": "Sentiment", "topic": "Topic"}


def task_labels(task: str, probs: dict[str, float] | None = None, known: dict[str, list[str]] | None = None) -> list[str]:
    """A task's classes in the model's order: from a tweet's probabilities, else from the
    model folders' labels (`known`, task -> labels), else none."""
    if probs:
        return list(probs)
    return list((known or {}).get(task, ()))


def option_id(task: str, label: str) -> str:
    return f"{task}:{label}"


class LabelPickerScreen(ModalScreen[tuple[str, str] | None]):
    """A list of the classes of one or both tasks; Enter returns (task, label)."""

    BINDINGS = [("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    LabelPickerScreen { align: center middle; background: $background 60%; }
    LabelPickerScreen #label-box { width: 64; }
    LabelPickerScreen #label-tweet { margin: 1 0; }
    LabelPickerScreen #label-options { height: auto; max-height: 30; }
    """

    def __init__(self, scored: Scored | None = None, tasks: tuple[str, ...] = ("sentiment", "topic"),
                 current: dict[str, str] | None = None, title: str = "Correct the label",
                 names: dict[str, list[str]] | None = None) -> None:
        super().__init__()
        #: Label names per task when no tweet's probabilities carry them (bulk actions).
        self.names = names or {}
        self.scored = scored
        self.tasks = tasks
        self.current = current or {}
        self.title_text = title

    def _model(self, task: str) -> tuple[str | None, dict[str, float]]:
        sc = self.scored
        if sc is None:
            return None, {}
        return (sc.sentiment, sc.sentiment_probs) if task == "sentiment" else (sc.topic, sc.topic_probs)

    def compose(self) -> ComposeResult:
        with Vertical(id="label-box", classes="picker") as box:
            box.border_title = self.title_text
            box.border_subtitle = "Enter sets · Esc cancels"
            if self.scored is not None:
                yield Static(Text(safe(self.scored.tweet.text, 280)), id="label-tweet")
            options: list[Option | None] = []
            for task in self.tasks:
                model_label, probs = self._model(task)
                options.append(Option(Text(TASK_TITLES[task], style="bold underline"), disabled=True))
                for label in task_labels(task, probs, self.names):
                    options.append(Option(self._line(task, label, model_label, probs), id=option_id(task, label)))
            yield OptionList(*options, id="label-options")

    def _line(self, task: str, label: str, model_label: str | None, probs: dict[str, float]) -> Text:
        t = Text("  ")
        name = f"{GLYPH.get(label, '')} {label}".strip() if task == "sentiment" else label
        t.append(f"{safe(name, 32):<30}")
        if label in probs:
            t.append(f"{probs[label]:>5.0%}", style="dim")
        if label == model_label:
            t.append("  model", style="italic")
        if self.current.get(task) == label:
            t.append("  ✎", style="bold")
        return t

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        first = self.tasks[0]
        want = self.current.get(first) or self._model(first)[0]
        for i in range(ol.option_count):
            oid = ol.get_option_at_index(i).id
            if oid == option_id(first, want or "") or (want is None and oid):
                ol.highlighted = i
                break
        ol.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        task, label = event.option.id.split(":", 1)
        self.dismiss((task, label))

    def action_cancel(self) -> None:
        self.dismiss(None)
