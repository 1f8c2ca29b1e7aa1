"""Status bar: source and its state, rate, engine and models, latency, window, filters, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from ..filters import Filters
from ..palette import GLYPH, palette_for, sentiment_color
from ..render import safe, short_topic

STATE_LABEL = {
    "connecting": "connecting…",
    "live": "live",
    "reconnecting": "reconnecting",
    "polling": "polling",
    "rate_limited": "rate-limited",
    "ended": "ended",
    "error": "error",
}


@dataclass
class StatusInfo:
    """Everything the bar shows; the app fills it in, the bar only draws it."""

    source: str = ""
    kind: str = ""
    state: str = "connecting"
    detail: str = ""
    position: int | None = None
    total: int | None = None
    speed: float | None = None
    is_replay: bool = False
    per_minute: float = 0.0
    per_second: float | None = None
    scored: int = 0
    engine: str = ""
    p50: float | None = None
    p99: float | None = None
    window: str = "60 min"
    filters: Filters = field(default_factory=Filters)
    paused: bool = False
    held: int = 0
    clock: datetime | None = None
    tweet_time: datetime | None = None
    #: Scoring is behind: posts waiting and how long the oldest has waited (0/None: not behind).
    backlog: int = 0
    backlog_s: float | None = None
    error: str = ""
    #: Several sources merged: each one's last SourceStatus (`source`, `state`, `detail`,
    #: `next_retry_at`, `attempt`), shown one after the other instead of the single source.
    sources: tuple = ()


def speed_label(speed: float | None) -> str:
    if speed is None:
        return "max"
    return f"×{speed:g}"


def part_label(st) -> str:
    """`live`, `reconnecting #2`, `rate-limited until 12:00:03`, `stopped: why`."""
    state = getattr(st, "state", "")
    if state == "error":
        return "stopped: " + safe(getattr(st, "detail", "") or "error", 48)
    label = STATE_LABEL.get(state, safe(state, 16))
    retry = getattr(st, "next_retry_at", None)
    if state == "rate_limited" and isinstance(retry, (int, float)):
        label += " until " + datetime.fromtimestamp(retry, timezone.utc).strftime("%H:%M:%S")
    if state == "reconnecting" and getattr(st, "attempt", 0):
        label += f" #{st.attempt}"
    return label


def parts_text(parts, p) -> Text:
    """Line 1 for merged sources: each source's name and state."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for st in parts:
        state = getattr(st, "state", "")
        color = {"live": p.bull, "polling": p.bull, "ended": p.neutral, "error": p.bear,
                 "reconnecting": p.bear, "rate_limited": p.bear}.get(state, p.muted)
        out.append(f" {safe(getattr(st, 'source', '') or 'source', 12).upper()} ", style=Style(bold=True, reverse=True))
        out.append(" ● ", style=color)
        out.append(part_label(st), style=Style(color=color, bold=True))
        out.append("  ")
    return out


def _line(left: Text, right: Text, right_max: int) -> Table:
    """One status line: `left` takes what `right` (at most `right_max` cells) leaves."""
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(no_wrap=True, overflow="ellipsis", justify="right", max_width=right_max)
    grid.add_row(left, right)
    return grid


class StatusBar(Widget):
    DEFAULT_CSS = """
    StatusBar { height: 2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = StatusInfo()

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.refresh())

    def show(self, info: StatusInfo) -> None:
        self.info = info
        self.refresh()

    def render(self) -> Table:
        i = self.info
        p = palette_for(self.app.theme)
        accent = Style(bold=True)
        muted = Style(color=p.muted)

        # line 1 left: source kind, state, replay position and speed, then the source itself
        src = Text(no_wrap=True, overflow="ellipsis")
        kind = (i.kind or "source").upper()
        src.append(f" {safe(kind, 12)} ", style=Style(bold=True, reverse=True))
        state_color = {"live": p.bull, "polling": p.bull, "ended": p.neutral, "error": p.bear,
                       "reconnecting": p.bear}.get(i.state, p.muted)
        src.append(" ● ", style=state_color)
        src.append(STATE_LABEL.get(i.state, safe(i.state, 16)), style=Style(color=state_color, bold=True))
        if i.state == "ended" and i.is_replay:
            src.append(" (final state)", style=muted)
        if i.is_replay:
            if i.position is not None:
                src.append("  ")
                if i.total:
                    src.append(f"{i.position:,}/{i.total:,}", style=accent)
                    if i.position < i.total:
                        src.append(f" {i.position / i.total:.0%}", style=muted)
                else:
                    src.append(f"{i.position:,}", style=accent)
            src.append(f"  {speed_label(i.speed)}", style=Style(color=p.ticker, bold=True))
        src.append("  ")
        src.append(safe(i.source, 60))
        if i.detail:
            src.append(f" ({safe(i.detail, 60)})", style=muted)
        if i.sources:  # several sources merged: each one's own state instead
            src = parts_text(i.sources, p)

        # line 1 right: backlog (when behind), rate, latency, clock
        right1 = Text(no_wrap=True, justify="right")
        if i.backlog and i.backlog_s is not None:
            right1.append(f"⧗ {i.backlog:,} waiting, {i.backlog_s:,.0f} s behind", style=Style(color=p.bear, bold=True))
            right1.append("  ")
        right1.append(f"{i.per_minute:,.0f}", style=accent)
        right1.append("/min", style=muted)
        if i.per_second is not None:
            right1.append(" · ", style=muted)
            right1.append(f"{i.per_second:,.0f}", style=accent)
            right1.append("/s", style=muted)
        right1.append("  ")
        right1.append("p50 ", style=muted)
        right1.append("–" if i.p50 is None else f"{i.p50:.0f}", style=accent)
        right1.append(" p99 ", style=muted)
        right1.append("–" if i.p99 is None else f"{i.p99:.0f}", style=accent)
        right1.append(" ms  ", style=muted)
        if i.clock is not None:
            right1.append(i.clock.strftime("%H:%M:%S"), style=accent)
            right1.append(" UTC", style=muted)

        # line 2 left: window, filters, pause
        left2 = Text(no_wrap=True, overflow="ellipsis")
        if i.paused:
            left2.append(" ❚❚ PAUSED ", style=Style(bold=True, reverse=True, color=p.bear))
            left2.append(f" {i.held:,} new held ", style=Style(color=p.bear))
        left2.append(" window ", style=muted)
        left2.append(i.window, style=accent)
        if i.tweet_time is not None:
            left2.append(" to ", style=muted)
            left2.append(i.tweet_time.strftime("%Y-%m-%d %H:%M"), style=accent)
        left2.append("  filters ", style=muted)
        f = i.filters
        if not f.active:
            left2.append("none", style=muted)
        else:
            if f.ticker:
                left2.append(f" ${safe(f.ticker, 12)} ", style=Style(color=p.ticker, bold=True, reverse=True))
                left2.append(" ")
            if f.topic:
                left2.append(f" {short_topic(f.topic)} ", style=Style(color=p.topic_fg, bgcolor=p.topic_bg))
                left2.append(" ")
            if f.sentiment:
                left2.append(f" {GLYPH.get(f.sentiment, '●')} {f.sentiment} ",
                             style=Style(color=sentiment_color(p, f.sentiment), bold=True, reverse=True))

        # line 2 right: engine and models, or the latest error (which matters more then)
        if i.error:
            right2 = Text(no_wrap=True, overflow="ellipsis", justify="right")
            right2.append("⚠ ", style=Style(color=p.bear, bold=True))
            right2.append(safe(i.error, 120), style=Style(color=p.bear, bold=True))
        else:
            right2 = Text(safe(i.engine, 90) or "engine …", style=muted, no_wrap=True, overflow="ellipsis", justify="right")

        # One grid a line, so the engine and models on line 2 may use what the filters leave.
        width = self.size.width
        room = width - left2.cell_len - 2 if not i.error else width // 2
        return Group(_line(src, right1, max(40, width // 2)), _line(left2, right2, max(40, room)))
