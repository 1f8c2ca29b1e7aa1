"""The `?` help screen: every key, what the colors and glyphs mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..palette import GLYPH, palette_for

#: (keys, what they do) in the order shown; the app's BINDINGS use the same keys.
KEYMAP: list[tuple[str, str]] = [
    ("t", "Filter by ticker (type, Tab completes from tickers seen)"),
    ("Enter / click", "On a ticker row: filter by that ticker"),
    ("p", "Filter by topic (picker); click a histogram bar does the same"),
    ("e", "Cycle the sentiment filter: all → bullish → bearish → neutral"),
    ("x", "Clear all filters"),
    ("space", "Pause / resume the display (scoring goes on; nothing is dropped)"),
    ("+ / -", "Replay speed up / down"),
    ("w", "Change the window: 15 min → 1 h → 4 h → session"),
    ("o", "Sort the ticker panel: activity → net sentiment → name"),
    ("s", "Show / hide the scores on each tweet"),
    ("n", "Newest tweets first / last"),
    ("c", "Switch colors (dark, light, high contrast)"),
    ("↑ / ↓ / click", "Select a tweet in the feed"),
    ("l", "Correct the selected tweet's sentiment or topic"),
    ("Tab / Shift+Tab", "Move between feed and ticker panel"),
    ("ctrl+p", "Command palette"),
    ("?", "This help"),
    ("q", "Quit"),
]


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
        for k, what in KEYMAP:
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
