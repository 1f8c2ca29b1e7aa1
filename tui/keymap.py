"""The monitor's keys, written once: the app's BINDINGS, the help screen's table and the
command palette are all generated from `KEYS`. To add a key: one `Key(...)` line here and
an `action_<name>` method on the app."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    #: How the help screen writes the keys ("+ / -"); "" = covered by the row before.
    shown: str
    #: What the help screen says they do.
    does: str
    #: Textual key names and app action; "" = no app binding (a widget's key, a mouse gesture).
    keys: str = ""
    action: str = ""
    #: Footer label; "" = a binding the footer does not show.
    footer: str = ""
    #: Footer tooltip.
    tip: str = ""
    #: Command palette title and line; "" = not in the palette.
    command: str = ""
    command_help: str = ""
    key_display: str | None = None


KEYS: tuple[Key, ...] = (
    Key("t", "Filter by ticker (type, Tab completes from tickers seen)", "t", "pick_ticker", "Ticker", "Filter by ticker",
        "Filter by ticker", "Type a ticker, with completion from tickers seen"),
    Key("Enter / click", "On a ticker row: its own screen (chart, topics, posts, alerts)"),
    Key("", "", "", "open_ticker", "", "", "Open ticker screen", "Chart, topic mix, sources, alerts and posts of the selected ticker"),
    Key("p", "Filter by topic (picker); click a histogram bar does the same", "p", "pick_topic", "Topic", "Filter by topic",
        "Filter by topic", "Pick one of the topics"),
    Key("e", "Cycle the sentiment filter: all → bullish → bearish → neutral", "e", "cycle_sentiment", "Sentiment",
        "Cycle the sentiment filter", "Cycle sentiment filter", "All, bullish, bearish, neutral"),
    Key("x", "Clear all filters", "x", "clear_filters", "Clear", "Clear all filters", "Clear filters", "Show every tweet"),
    Key("space", "Pause / resume the display (scoring goes on; nothing is dropped)", "space", "toggle_pause", "Pause",
        "Pause / resume (scoring goes on)", "Pause / resume", "Hold the display; scoring goes on"),
    Key("+ / -", "Replay speed up / down", "plus,equals_sign", "speed(1)", "Fast", "Replay speed up",
        "Replay faster", "Replay speed up", key_display="+"),
    Key("", "", "minus,underscore", "speed(-1)", "Slow", "Replay speed down", "Replay slower", "Replay speed down",
        key_display="-"),
    Key("w", "Change the window: 15 min → 1 h → 4 h → session", "w", "cycle_window", "Window", "15 min, 1 h, 4 h, session",
        "Change window", "15 min, 1 h, 4 h, session"),
    Key("o", "Sort the ticker panel: activity → net sentiment → name", "o", "cycle_sort", "Sort", "Sort the ticker panel",
        "Sort tickers", "Activity, net sentiment, name"),
    Key("a", "Alerts, newest first; Enter or a click opens the ticker", "a", "show_alerts",
        "Alerts", "Alerts, newest first", "Show alerts", "Alerts raised by the rules, newest first"),
    Key("f / Esc", "On a ticker's screen: filter the feed by it / go back"),
    Key("s", "Show / hide the scores on each tweet", "s", "toggle_scores", "Scores", "Show / hide scores",
        "Show / hide scores", "Probabilities on each tweet"),
    Key("n", "Newest tweets first / last", "n", "toggle_order", "Order", "Newest first / last",
        "Newest first / last", "Order of the feed"),
    Key("c", "Switch colors (dark, light, high contrast)", "c", "cycle_theme", "Colors", "Dark, light, high contrast",
        "Switch colors", "Dark, light, high contrast"),
    Key("↑ / ↓ / click", "Select a tweet in the feed"),
    Key("l", "Correct the selected tweet's sentiment or topic", "l", "label", "Label", "Correct the selected tweet's labels",
        "Correct labels", "Set the selected tweet's sentiment or topic"),
    Key("u", "Open the selected post's original (its link shows under it)", "u", "open_link", "", "",
        "Open the post's link", "The selected post on Bluesky, StockTwits or X"),
    Key("Tab / Shift+Tab", "Move between feed and ticker panel"),
    Key("ctrl+p", "Command palette"),
    Key("?", "This help", "question_mark", "help", "Help", "", "Help", "Every key", key_display="?"),
    Key("q", "Quit", "q", "quit", "Quit"),
)

#: Footer order: the filters, pause, speed, window, sort, then help and quit (which must fit
#: at 100 columns), then the alerts screen and the display toggles.
FOOTER = ("pick_ticker", "pick_topic", "cycle_sentiment", "clear_filters", "toggle_pause", "speed(1)", "speed(-1)",
          "cycle_window", "cycle_sort", "help", "quit", "show_alerts", "label", "toggle_scores", "toggle_order", "cycle_theme",
          "open_link")


def bindings() -> list[Binding]:
    """The app's BINDINGS, in footer order."""
    by_action = {k.action: k for k in KEYS if k.keys}
    assert set(by_action) == set(FOOTER), "tui/keymap.py: FOOTER and KEYS name different actions"
    return [Binding(k.keys, k.action, k.footer, key_display=k.key_display, tooltip=k.tip, show=bool(k.footer))
            for k in (by_action[a] for a in FOOTER)]


def help_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for the help screen, in KEYS order."""
    return [(k.shown, k.does) for k in KEYS if k.shown]


def commands() -> list[tuple[str, str, str]]:
    """(title, line, action) for the command palette, in KEYS order."""
    return [(k.command, k.command_help, k.action) for k in KEYS if k.command]
