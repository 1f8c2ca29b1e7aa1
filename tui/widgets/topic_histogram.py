"""Topic histogram: the 20 topics in the window, for all tweets or one ticker; a click filters by topic."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget


from ..palette import palette_for
from ..render import click, safe, short_topic

_EIGHTHS = " ▏▎▍▌▋▊▉"


def _bar(frac: float, width: int) -> str:
    cells = frac * width
    full = int(cells)
    rest = int((cells - full) * 8)
    s = "█" * full + (_EIGHTHS[rest] if rest and full < width else "")
    return s


class TopicHistogram(Widget):
    """Bars of topic counts; laid out in two columns when there is no room for 20 rows."""

    DEFAULT_CSS = """
    TopicHistogram { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.auto_links = False  # the bars are clickable but drawn in their own colors, not as links
        self.counts: dict[str, int] = {}
        self.scope: str | None = None  # a ticker, or None for all tweets
        self.active_topic: str | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.refresh())
        self._retitle()

    def show(self, counts: dict[str, int], scope: str | None, active_topic: str | None) -> None:
        self.counts = counts
        self.scope = scope
        self.active_topic = active_topic
        self._retitle()
        self.refresh()

    def _retitle(self) -> None:
        total = sum(self.counts.values())
        who = f"${safe(self.scope, 10)}" if self.scope else "all tweets"
        self.border_title = f"Topics · {who} · {total:,}"

    def render(self) -> Text:
        p = palette_for(self.app.theme)
        width = self.content_region.width or self.size.width
        height = self.content_region.height or self.size.height
        items = list(self.counts.items())
        ncols = 1 if height >= len(items) else 2
        rows = -(-len(items) // ncols)
        colw = (width - (ncols - 1) * 2) // ncols
        label_w = 10
        num_w = max(3, len(str(max(self.counts.values(), default=0))))
        bar_w = max(colw - label_w - num_w - 2, 1)
        peak = max(self.counts.values(), default=0) or 1
        out = Text(no_wrap=True, overflow="crop")
        for r in range(min(rows, max(height, 1))):
            for c in range(ncols):
                i = c * rows + r
                if i >= len(items):
                    continue
                topic, n = items[i]
                if c:
                    out.append("  ")
                active = topic == self.active_topic
                action = click(f"app.filter_topic({topic!r})")
                lab_style = Style(bold=True, reverse=True) if active else Style(color=p.muted if not n else None)
                out.append(f"{short_topic(topic):<{label_w}.{label_w}}", style=lab_style + action)
                out.append(" ", style=action)
                bar = _bar(n / peak, bar_w)
                out.append(f"{bar:<{bar_w}}", style=Style(color=p.bar) + action)
                out.append(f" {n:>{num_w}}", style=Style(color=p.muted if not n else None) + action)
            if r < rows - 1:
                out.append("\n")
        return out
