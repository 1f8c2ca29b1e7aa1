"""Filter by ticker: type it (Tab or → completes from tickers seen) or pick one from the list."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ..filters import normalize_ticker
from ..render import safe


class TickerFilterScreen(ModalScreen[str | None]):
    """Returns the chosen ticker (upper-case, no `$`), or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel"), ("down", "focus_list", "List"), ("tab", "complete", "Complete")]

    def __init__(self, tickers: list[str], current: str | None = None) -> None:
        super().__init__()
        self.tickers = tickers  # most active first
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="ticker-box", classes="picker") as box:
            box.border_title = "Filter by ticker"
            box.border_subtitle = "Enter applies · Tab completes · Esc cancels"
            yield Input(
                value=self.current or "",
                placeholder="$TICKER",
                suggester=SuggestFromList(self.tickers, case_sensitive=False),
                id="ticker-input",
            )
            yield OptionList(id="ticker-options")
            yield Label("", id="ticker-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, prefix: str) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        p = (normalize_ticker(prefix) or "")
        matches = [t for t in self.tickers if t.startswith(p)][:50] if p else self.tickers[:50]
        ol.add_options([Option(safe(t, 12), id=t) for t in matches])
        if matches:
            ol.highlighted = 0
        self.query_one("#ticker-hint", Label).update(
            f"{len(matches)} of {len(self.tickers)} tickers seen" if self.tickers else "No tickers seen yet"
        )

    @on(Input.Changed, "#ticker-input")
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#ticker-input")
    def _submitted(self, event: Input.Submitted) -> None:
        t = normalize_ticker(event.value)
        ol = self.query_one(OptionList)
        if t and t not in self.tickers and ol.option_count and ol.highlighted is not None:
            t = ol.get_option_at_index(ol.highlighted).id  # "AA" + Enter takes the first match
        self.dismiss(t)

    @on(OptionList.OptionSelected, "#ticker-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_complete(self) -> None:
        """Tab takes the suggestion shown in the input (→ at the end does the same)."""
        inp = self.query_one(Input)
        if not inp.has_focus:
            inp.focus()
            return
        inp.cursor_position = len(inp.value)
        inp.action_cursor_right()

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
