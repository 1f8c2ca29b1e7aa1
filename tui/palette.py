"""Themes and the sentiment palette.

The sentiment colors are colorblind-safe (Okabe-Ito blue / orange, with a neutral grey), and
every sentiment also has its own glyph (▲ ▼ ●) so color is never the only cue.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.theme import Theme

from finterm.config import THEMES as CONFIG_THEMES


@dataclass(frozen=True)
class Palette:
    bull: str
    bear: str
    neutral: str
    ticker: str
    topic_fg: str
    topic_bg: str
    muted: str
    bar: str


GLYPH = {"Bullish": "▲", "Bearish": "▼", "Neutral": "●"}
SHORT = {"Bullish": "Bull", "Bearish": "Bear", "Neutral": "Neut"}

#: One entry per name in finterm.config.THEMES (the names a config may use), prefixed `finterm-`.
THEMES: dict[str, tuple[Theme, Palette]] = {
    "finterm-dark": (
        Theme(
            name="finterm-dark", primary="#56B4E9", secondary="#CC79A7", accent="#F0E442",
            warning="#E69F00", error="#D55E00", success="#009E73",
            foreground="#D8DEE9", background="#0F1419", surface="#161C23", panel="#1E2630", dark=True,
        ),
        Palette(bull="#56B4E9", bear="#E69F00", neutral="#8B949E", ticker="#F0E442",
                topic_fg="#D8DEE9", topic_bg="#2A3441", muted="#6E7781", bar="#CC79A7"),
    ),
    "finterm-light": (
        Theme(
            name="finterm-light", primary="#0072B2", secondary="#CC79A7", accent="#7A5C00",
            warning="#B35C00", error="#B33C00", success="#007A5A",
            foreground="#1F2328", background="#FAFAF7", surface="#F0F0EB", panel="#E4E4DD", dark=False,
        ),
        Palette(bull="#0072B2", bear="#C25400", neutral="#57606A", ticker="#7A3E9D",
                topic_fg="#1F2328", topic_bg="#DCDCD3", muted="#6E7781", bar="#7A3E9D"),
    ),
    "finterm-contrast": (
        Theme(
            name="finterm-contrast", primary="#33B1FF", secondary="#FF7EB6", accent="#FFFF00",
            warning="#FFB000", error="#FF6B35", success="#00D7AF",
            foreground="#FFFFFF", background="#000000", surface="#000000", panel="#1A1A1A", dark=True,
        ),
        Palette(bull="#33B1FF", bear="#FFB000", neutral="#BBBBBB", ticker="#FFFF00",
                topic_fg="#000000", topic_bg="#BBBBBB", muted="#999999", bar="#FF7EB6"),
    ),
}
THEME_NAMES = tuple(f"finterm-{name}" for name in CONFIG_THEMES)
DEFAULT_THEME = THEME_NAMES[0]
assert set(THEME_NAMES) == set(THEMES), "tui/palette.py and finterm/config.py name different themes"


def theme_name(requested: str | None) -> str:
    """A finterm theme from the config's `ui.theme` ("dark", "light", "contrast" or a full name)."""
    if not requested:
        return DEFAULT_THEME
    r = str(requested).strip().lower()
    for name in THEME_NAMES:
        if r in (name, name.removeprefix("finterm-")):
            return name
    return DEFAULT_THEME


def palette_for(theme: str | None) -> Palette:
    return THEMES.get(theme or "", THEMES[DEFAULT_THEME])[1]


def sentiment_color(p: Palette, sentiment: str) -> str:
    s = sentiment.lower()
    return p.bull if s.startswith("bull") else p.bear if s.startswith("bear") else p.neutral
