"""A ticker's own screen (Enter on a ticker row, or from an alert): its sentiment over time as
a chart, its topic mix, sources and the crowd's agreement with the model, its alerts and its
latest posts. The window (`w`) applies: the chart spans it (`session`: everything since the
start, history included), and the counts are the window's. `f` filters the feed by the ticker.
"""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from finterm.sinks.aggregate import minute_of

from ..palette import GLYPH, palette_for
from ..render import click, net_text, safe, short_topic, tweet_body, tweet_header
from ..widgets.sentiment_chart import ChartData, SentimentChart, pick_step, step_label
from .alerts import HISTORY_MARK, what_text, when_text

#: Posts listed (newest first) and alerts listed.
POSTS = 30
ALERTS = 50


class TickerScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("f", "filter_feed", "Filter feed"),
        Binding("w", "app.cycle_window", "Window"),
        Binding("a", "app.show_alerts", "Alerts"),
    ]

    def __init__(self, ticker: str) -> None:
        super().__init__()
        self.ticker = ticker

    def compose(self) -> ComposeResult:
        yield Static(id="ticker-head")
        chart = SentimentChart(id="ticker-chart")
        yield chart
        with Horizontal(id="ticker-bottom"):
            with VerticalScroll(id="ticker-posts") as posts:
                posts.border_title = "Latest posts"
                posts.can_focus = True
                yield Static(id="ticker-posts-text")
            with Vertical(id="ticker-side"):
                topics = Static(id="ticker-topics")
                topics.border_title = "Topic mix"
                yield topics
                meta = Static(id="ticker-meta")
                meta.border_title = "Sources · crowd"
                yield meta
                with VerticalScroll(id="ticker-alerts") as alerts:
                    alerts.border_title = "Alerts"
                    yield Static(id="ticker-alerts-text")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#ticker-posts").focus()
        self.refresh_data()

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_data()  # what came while another screen was on top

    def on_resize(self) -> None:
        self.refresh_data()

    # -- data -------------------------------------------------------------------------------
    def refresh_data(self) -> None:
        app = self.app
        t = self.ticker
        p = palette_for(app.theme)
        timeline = app.timeline
        window = app.window_minutes
        now = app.aggregator.now
        span = timeline.span(t)
        end = minute_of(now) if now is not None else (span[1] if span else 0)
        if window is not None:
            start = end - window + 1
        else:
            start = span[0] if span else end
        chart = self.query_one(SentimentChart)
        width = chart.size.width or app.size.width
        bars = max(4, min(90, (width - 8) // 4))  # about four cells a bar: a gap between bars
        step = pick_step(end - start + 1, bars)
        first = (start // step) * step
        buckets = timeline.buckets(t, first, end, step)
        hist = timeline.history_until
        history_end = None
        if hist is not None:
            history_end = (minute_of(hist) - first) / step + 0.5
        chart.show(ChartData(buckets, first, step, history_end))
        since = start if window is not None else None
        totals = timeline.totals(t, since)
        chart.border_title = f"${safe(t, 10)} · sentiment per {step_label(step)} · {window_text(window)}"
        chart.border_subtitle = self._legend(p, hist is not None and history_end is not None and history_end < len(buckets))
        self.query_one("#ticker-head", Static).update(self._head(p, totals, window, hist))
        self._topics(p, window)
        self._meta(p, since)
        self._alerts(p)
        self._posts(p)

    def _legend(self, p, history: bool) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{GLYPH['Bullish']} bullish ", style=p.bull)
        t.append(f"{GLYPH['Bearish']} bearish ", style=p.bear)
        t.append(f"{GLYPH['Neutral']} neutral", style=p.neutral)
        t.append(" posts · ", style=p.muted)
        t.append("⠒⠒ net", style=self.app.theme_variables.get("accent", p.ticker))
        if history:
            t.append(" · │ history ends", style=p.muted)
        return t

    def _head(self, p, totals, window, hist) -> Text:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f" ${safe(self.ticker, 12)} ", style=f"bold reverse {p.ticker}")
        head.append(f"  {window_text(window)}: ", style=p.muted)
        head.append(f"{totals.total:,} posts ", style="bold")
        head.append(f"{GLYPH['Bullish']}{totals.bullish} ", style=p.bull)
        head.append(f"{GLYPH['Bearish']}{totals.bearish} ", style=p.bear)
        head.append(f"{GLYPH['Neutral']}{totals.neutral}", style=p.neutral)
        head.append("  net ", style=p.muted)
        head.append_text(net_text(totals.net or 0.0, totals.total, p))
        mine = [a for a in getattr(self.app, "alert_log", []) if a.ticker == self.ticker]
        if mine:
            head.append(f"  · {len(mine)} alert{'s' if len(mine) != 1 else ''}", style=p.muted)
        if hist is not None:
            head.append(f"  · {HISTORY_MARK} history until {hist.strftime('%H:%M')} UTC", style=p.muted)
        f = getattr(self.app, "filters", None)
        if f is not None and f.ticker == self.ticker:
            head.append("  · feed filtered", style=p.muted)
        return head

    def _topics(self, p, window) -> None:
        counts = self.app.aggregator.topic_counts(self.ticker)
        items = sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))
        widget = self.query_one("#ticker-topics", Static)
        widget.border_title = f"Topic mix · {window_text(window)}"
        if not items:
            widget.update(Text("no posts in the window", style=p.muted))
            return
        widget.update(TopicBars(items, p))

    def _meta(self, p, since) -> None:
        tl = self.app.timeline
        sources = tl.sources(self.ticker, since)
        n, agree = tl.crowd(self.ticker, since)
        t = Text()
        if sources:
            t.append("sources ", style=p.muted)
            t.append(" · ".join(f"{safe(k, 12)} {v:,}" for k, v in sources.items()))
        else:
            t.append("sources: not given", style=p.muted)
        t.append("\n")
        if n:
            share = agree / n
            color = p.bull if share >= 0.7 else p.bear if share < 0.5 else p.neutral
            t.append("crowd agrees ", style=p.muted)
            t.append(f"{share:.0%}", style=f"bold {color}")
            t.append(f" ({agree:,} of {n:,} tagged posts)", style=p.muted)
        else:
            t.append("no crowd tags (StockTwits authors tag their posts)", style=p.muted)
        self.query_one("#ticker-meta", Static).update(t)

    def _alerts(self, p) -> None:
        mine = [a for a in getattr(self.app, "alert_log", []) if a.ticker == self.ticker][-ALERTS:]
        mine.reverse()
        widget = self.query_one("#ticker-alerts-text", Static)
        box = self.query_one("#ticker-alerts")
        box.border_title = f"Alerts · {len(mine)}" if mine else "Alerts"
        if not mine:
            widget.update(Text("none for this ticker", style=p.muted))
            return
        dates = {a.time.date() for a in mine}
        lines = []
        for a in mine:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(HISTORY_MARK + " " if a.history else "", style=p.muted)
            line.append(when_text(a, len(dates) > 1) + " ", style=p.muted)
            line.append(safe(a.rule, 16) + " ", style="bold")
            line.append(what_text(a))
            lines.append(line)
        widget.update(Group(*lines))

    def _posts(self, p) -> None:
        items = self.app.timeline.latest(self.ticker, POSTS)
        box = self.query_one("#ticker-posts")
        box.border_title = f"Latest posts · {len(items)}" if items else "Latest posts"
        if not items:
            self.query_one("#ticker-posts-text", Static).update(Text("no posts yet", style=p.muted))
            return
        parts = []
        for sc, history in items:
            head = Text(no_wrap=True, overflow="ellipsis")
            if history:
                head.append(HISTORY_MARK + " ", style=p.muted)
            head.append_text(tweet_header(sc, p, False))
            parts.append(head)
            parts.append(tweet_body(sc, safe(sc.tweet.text), p))
            parts.append(Text(""))
        self.query_one("#ticker-posts-text", Static).update(Group(*parts))

    # -- actions ----------------------------------------------------------------------------
    def action_filter_feed(self) -> None:
        """Filter the main feed by this ticker and go back to it."""
        app = self.app
        app.set_filters(app.filters.with_(ticker=self.ticker))
        app.notify(f"Feed filtered by ${self.ticker} (x clears)", timeout=3)
        while len(app.screen_stack) > 1:
            app.pop_screen()

    def action_close(self) -> None:
        self.dismiss()


class TopicBars:
    """Topic, bar, count and share per line; the bars take the width there is when drawn."""

    LABEL = 11

    def __init__(self, items: list[tuple[str, int]], p) -> None:
        self.items = items
        self.p = p

    def __rich_console__(self, console, options):
        p = self.p
        total = sum(n for _, n in self.items) or 1
        top = self.items[0][1] if self.items else 1
        tail = max(len(f" {n} {n / total:.0%}") for _, n in self.items)
        width = max(1, options.max_width - self.LABEL - tail)
        for topic, n in self.items:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{short_topic(topic):<{self.LABEL - 1}} ", style=Style(color=p.topic_fg) + click(f"app.filter_topic({topic!r})"))
            line.append("█" * max(1, round(width * n / top)), style=p.bar)
            line.append(f" {n}", style="bold")
            line.append(f" {n / total:.0%}", style=p.muted)
            yield line


def window_text(window: int | None) -> str:
    if window is None:
        return "whole session"
    return f"last {window} min" if window % 60 else f"last {window // 60} h"
