"""A ticker's sentiment over time: bullish / bearish / neutral posts per time bucket as stacked
bars (bullish at the bottom, then bearish, then neutral: the height is the volume), the net
sentiment as a line on the right axis (-1 to 1).

Drawn by plotext through textual-plotext; the bars take the sentiment palette's colors, so
the chart reads like the rest of the screen (▲ blue, ▼ orange, ● grey). The history loaded
from a recording is marked by a dotted line where it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from textual.color import Color
from textual_plotext import PlotextPlot

from finterm.sinks.timeline import Bucket

from ..palette import palette_for

#: Inner height from which the net line gets a panel of its own under the bars (else it is
#: drawn over them, on the right axis).
SPLIT_HEIGHT = 15
#: Bucket sizes (minutes) the chart picks from: the smallest that fits the span in the bars there is room for.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440)


def pick_step(span_minutes: int, max_bars: int) -> int:
    for step in STEPS:
        if span_minutes <= step * max(1, max_bars):
            return step
    return STEPS[-1]


def step_label(step: int) -> str:
    return f"{step} min" if step < 60 else f"{step // 60} h"


@dataclass
class ChartData:
    buckets: list[Bucket]
    #: Minute (since the epoch) the first bucket starts at, and minutes per bucket.
    start: int
    step: int
    #: Bucket index where the loaded history ends (None: no history in view).
    history_end: float | None = None


def _rgb(color: str) -> tuple[int, int, int]:
    c = Color.parse(color)
    return (c.r, c.g, c.b)


class SentimentChart(PlotextPlot):
    """Call `show(ChartData)`; the plot is rebuilt when the data or the size changes."""

    DEFAULT_CSS = """
    SentimentChart { height: 1fr; min-height: 7; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: ChartData | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.app.theme_changed_signal.subscribe(self, lambda _t: self._draw())

    def on_resize(self) -> None:
        self._draw()

    def show(self, data: ChartData) -> None:
        self.data = data
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        d = self.data
        p = palette_for(self.app.theme)
        width, height = self.size.width or 80, self.size.height or 12
        if d is None or not d.buckets or not any(b.total for b in d.buckets):
            plt.title("no posts in this window yet")
            plt.xfrequency(0)
            plt.yfrequency(0)
            self.refresh()
            return
        n = len(d.buckets)
        top = max(1, max(b.total for b in d.buckets))
        counts = _count_ticks(top, max(2, height // 4))
        label_w = max(3, len(str(top)) + 1)
        split = height >= SPLIT_HEIGHT  # room for the net line in a panel of its own, under the bars
        if split:
            plt.subplots(2, 1)
            bars, net = plt.subplot(1, 1), plt.subplot(2, 1)
            net.plotsize(None, max(7, height // 3))  # four rows of line: -1, 0 and +1 apart
            net_side = "left"
        else:
            bars = net = plt
            net_side = "right"
        # Stacked by hand, one bar per bucket and layer (tallest first, each drawn over the one
        # before): plotext's stacked_bar lifts a stack off the axis when its bottom layer is 0,
        # and a zero-height bar blanks the axis row under the bars drawn before it.
        bar_w = 0.7 if n > 1 else 0.3
        for i, b in enumerate(d.buckets):
            for h, color in ((b.total, p.neutral), (b.bullish + b.bearish, p.bear), (b.bullish, p.bull)):
                if h:
                    bars.bar([i], [h], color=_rgb(color), width=bar_w, minimum=0)
        bars.ylim(0, top)
        bars.yticks(counts, [f"{c:>{label_w}}" for c in counts])
        net_x = [i for i, b in enumerate(d.buckets) if b.total]
        net_y = [d.buckets[i].net for i in net_x]
        line = _rgb(self.app.theme_variables.get("accent", p.ticker))
        if len(net_x) > 1:
            net.plot(net_x, net_y, yside=net_side, color=line, marker="braille")
        else:
            net.scatter(net_x, net_y, yside=net_side, color=line, marker="●")
        net.ylim(-1, 1, yside=net_side)
        net.yticks([-1, 0, 1], [f"{t:>{label_w}}" for t in ("-1", "0", "+1")], yside=net_side)
        ticks = _ticks(n, max(2, width // 14))
        labels = [_hhmm(d.start + i * d.step) for i in ticks]
        for panel in {id(bars): bars, id(net): net}.values():
            panel.xlim(-0.6, n - 0.4)
        if split:
            bars.xticks([])
            net.xticks(ticks, labels)
            net.hline(0, color=_rgb(p.muted))
        else:
            bars.xticks(ticks, labels)
        if d.history_end is not None and -0.5 <= d.history_end <= n - 0.5:
            for panel in {id(bars): bars, id(net): net}.values():
                panel.vline(d.history_end, color=_rgb(p.muted))
        self.refresh()


def _count_ticks(top: int, most: int) -> list[int]:
    """Whole numbers from 0 to `top` for the posts axis, at most `most` of them."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if top / step < most:
            return list(range(0, top + 1, step))
    return [0, top]


def _ticks(n: int, most: int) -> list[int]:
    if n <= 1:
        return [0]
    k = min(n, most)
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _hhmm(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%H:%M")
