"""Filter by the model's score: type a range such as `0.2-0.6` (or `20-60` in percent)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..review_state import ScoreRange


class ScoreRangeScreen(ModalScreen[ScoreRange | None]):
    """Returns the range typed (empty: every score), or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ScoreRangeScreen { align: center middle; background: $background 60%; }
    ScoreRangeScreen #range-hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, current: ScoreRange | None = None) -> None:
        super().__init__()
        self.current = current or ScoreRange()

    def compose(self) -> ComposeResult:
        with Vertical(id="range-box", classes="picker") as box:
            box.border_title = "Filter by score"
            box.border_subtitle = "Enter applies · Esc cancels"
            value = f"{self.current.lo:g}-{self.current.hi:g}" if self.current.active else ""
            yield Input(value=value, placeholder="0.2-0.6  (empty: all)", id="range-input")
            yield Label("The model's probability for its label, low-high.", id="range-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(ScoreRange.parse(event.value))
        except ValueError as exc:
            self.query_one("#range-hint", Label).update(str(exc) if "range" in str(exc) else "give a range such as 0.2-0.6")

    def action_cancel(self) -> None:
        self.dismiss(None)
