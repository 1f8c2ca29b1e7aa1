"""The `?` help screen: every key, what the colors and glyphs mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .. import keymap
from ..palette import GLYPH, palette_for


class HelpScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("question_mark", "dismiss", "Close"), ("q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "finterm · keys"
            box.border_subtitle = "Esc closes"
            yield Static(self._keys(), id="help-keys")
            yield Static(self._legend(), id="help-legend")

    def _keys(self) -> Table:
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True, justify="right")
        t.add_column()
        for k, what in keymap.help_rows():
            t.add_row(Text(k), Text(what))
        return t

    def _legend(self) -> Text:
        p = palette_for(self.app.theme)
        t = Text()
        t.append("\nSentiment  ", style="bold")
        t.append(f"{GLYPH['Bullish']} Bullish", style=f"bold {p.bull}")
        t.append("   ")
        t.append(f"{GLYPH['Bearish']} Bearish", style=f"bold {p.bear}")
        t.append("   ")
        t.append(f"{GLYPH['Neutral']} Neutral", style=f"bold {p.neutral}")
        t.append("\nGauge      ", style="bold")
        t.append("████", style=p.bull)
        t.append("░░", style=p.neutral)
        t.append("██", style=p.bear)
        t.append("  bullish share from the left, bearish from the right", style=p.muted)
        t.append("\nTrend      ", style="bold")
        t.append("▁▃▅▇", style=p.bull)
        t.append("▃▁", style=p.bear)
        t.append("  net sentiment per minute; · is a quiet minute", style=p.muted)
        t.append("\nTime       ", style="bold")
        t.append("the window follows tweet time (for a replay, the latest tweet's time)", style=p.muted)
        return t
