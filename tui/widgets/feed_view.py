"""The live feed: a bounded, virtualized list of scored tweets (Line API; only what is on screen is drawn).

Tweets are kept in a deque of at most `max_items`; the filtered view is a second deque of the
same bound, so a filter keeps collecting its own tweets as they come. Each tweet's line breaks
are computed once per width (cheap, no drawing); its lines are drawn only when it comes on
screen, and kept. A new batch costs its own tweets plus a pass over the (bounded) offsets,
whatever the rate, and a filter change draws no more than a screenful.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from typing import Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from finterm.records import Scored

from ..filters import Filters
from ..palette import GLYPH, SHORT, palette_for, sentiment_color
from ..render import safe, short_topic, tweet_body, tweet_header, wrap_offsets


class _Entry:
    """One tweet in the feed: its layout (line breaks for a width) and, once seen, its drawn lines."""

    __slots__ = ("scored", "body", "width", "breaks", "height", "lines")

    def __init__(self, scored: Scored) -> None:
        self.scored = scored
        self.body = safe(scored.tweet.text)
        self.width = -1
        self.breaks: list[int] = []
        self.height = 0
        self.lines: list[Strip] | None = None

    def layout(self, width: int) -> int:
        """Lines this entry takes at `width` (header, wrapped text, a blank); cheap, no drawing."""
        if width != self.width:
            self.width = width
            self.breaks = wrap_offsets(self.body, max(width - 2, 8))
            self.height = len(self.breaks) + 3
            self.lines = None
        return self.height


def corrected_mark(labels: dict[str, str]) -> Text:
    """`✎ ▼ Bear · IPO `: the user's labels for a tweet, shown before the model's."""
    parts = []
    if "sentiment" in labels:
        s = labels["sentiment"]
        parts.append(f"{GLYPH.get(s, '')} {SHORT.get(s, safe(s, 8))}".strip())
    if "topic" in labels:
        parts.append(short_topic(labels["topic"]))
    return Text("✎ " + " · ".join(parts) + "  ", style="bold reverse", end="")


class FeedView(ScrollView, can_focus=True):
    """Scored tweets, newest first or last, colored by sentiment.

    Up/down (or a click) select a tweet, so the app can correct its labels; tweets the user
    corrected (`corrections`: tweet id -> {task: label}) carry a ✎ mark with the new labels.
    """

    BINDINGS = [
        Binding("home", "scroll_home", "Top", show=False),
        Binding("end", "scroll_end", "Bottom", show=False),
        Binding("up,k", "select(-1)", "Previous", show=False),
        Binding("down,j", "select(1)", "Next", show=False),
    ]

    def __init__(self, max_items: int = 1000, newest_first: bool = True, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_items = max(10, int(max_items))
        self.newest_first = newest_first
        self.show_scores = False
        self.filters = Filters()
        # entries keep their rendered lines, shared between the full list and a filtered view
        self._all: deque[_Entry] = deque(maxlen=self.max_items)
        self._view: deque[_Entry] = deque(maxlen=self.max_items)
        self._order: list[_Entry] = []
        self._offsets: list[int] = []
        self._total_lines = 0
        self._width = 0
        self.empty_message = "Waiting for tweets…"
        self.corrections: dict[str, dict[str, str]] = {}
        self._selected: _Entry | None = None

    # -- data ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Tweets in the current (filtered) view."""
        return len(self._view)

    def add(self, batch: Iterable[Scored]) -> None:
        added = 0
        f = self.filters
        for sc in batch:
            e = _Entry(sc)
            self._all.append(e)
            if f.matches(sc):
                self._view.append(e)
                added += 1
        if added:
            self._relayout(added)

    def remove(self, ids: Iterable[str]) -> int:
        """Drop the posts with these ids (deleted by their authors); returns how many were shown."""
        gone = set(ids)
        if not gone or not any(e.scored.tweet.id in gone for e in self._all):
            return 0
        before = len(self._view)
        self._all = deque((e for e in self._all if e.scored.tweet.id not in gone), maxlen=self.max_items)
        self._view = deque((e for e in self._view if e.scored.tweet.id not in gone), maxlen=self.max_items)
        if self._selected is not None and self._selected.scored.tweet.id in gone:
            self._selected = None
        self._relayout(0)
        return before - len(self._view)

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self._view = deque((e for e in self._all if filters.matches(e.scored)), maxlen=self.max_items)
        self._relayout(0)
        self.scroll_to(y=0 if self.newest_first else self.max_scroll_y, animate=False, immediate=True)
        self._follow()

    def set_newest_first(self, value: bool) -> None:
        self.newest_first = value
        self._relayout(0)
        self._follow(force=True)

    def set_show_scores(self, value: bool) -> None:
        self.show_scores = value
        self.invalidate()

    # -- selection and corrections -----------------------------------------------------
    @property
    def selected(self) -> Scored | None:
        """The selected tweet, when it is in the current view."""
        return self._selected.scored if self._selected_index() is not None else None

    def _selected_index(self) -> int | None:
        e = self._selected
        if e is None:
            return None
        for i, x in enumerate(self._order):
            if x is e:
                return i
        return None

    def _top_index(self) -> int | None:
        """The first tweet on screen."""
        if not self._order:
            return None
        return max(0, bisect_right(self._offsets, int(self.scroll_y)) - 1)

    def select_index(self, i: int) -> None:
        if not self._order:
            return
        i = max(0, min(len(self._order) - 1, i))
        old, new = self._selected, self._order[i]
        for e in (old, new):
            if e is not None:
                e.lines = None
        self._selected = new
        y, h = self._offsets[i], new.height
        view_h = self.scrollable_content_region.height
        if y < self.scroll_y:
            self.scroll_to(y=y, animate=False, immediate=True)
        elif y + h > self.scroll_y + view_h:
            self.scroll_to(y=max(0, y + h - view_h), animate=False, immediate=True)
        self.refresh()

    def action_select(self, step: int) -> None:
        i = self._selected_index()
        if i is None:
            top = self._top_index()
            if top is not None:
                self.select_index(top)
            return
        self.select_index(i + step)

    def ensure_selected(self) -> Scored | None:
        """The selected tweet; the first one on screen is selected when none is."""
        if self._selected_index() is None and (top := self._top_index()) is not None:
            self.select_index(top)
        return self.selected

    def mark_corrected(self, tweet_id: str, labels: dict[str, str]) -> None:
        self.corrections[tweet_id] = dict(labels)
        for e in self._all:
            if e.scored.tweet.id == tweet_id:
                e.lines = None
        self.refresh()

    def on_click(self, event) -> None:
        line = int(self.scroll_y) + event.y
        if self._order and 0 <= line < self._total_lines:
            self.select_index(bisect_right(self._offsets, line) - 1)

    def invalidate(self) -> None:
        """Re-render every entry (theme, width or scores changed)."""
        for e in self._all:
            e.lines = None
        self._relayout(0)

    # -- layout -------------------------------------------------------------------------
    def _draw(self, e: _Entry) -> list[Strip]:
        """Draw an entry's lines (only ever for entries that come on screen)."""
        if e.lines is not None:
            return e.lines
        width = e.width
        p = palette_for(self.app.theme)
        console = self.app.console
        color = sentiment_color(p, e.scored.sentiment)
        chosen = e is self._selected
        bar = Segment("█ " if chosen else "▌ ", Style(color=color))
        pointer = Segment("█▶", Style(color=color, bold=True)) if chosen else bar
        inner = max(width - 2, 8)
        head = tweet_header(e.scored, p, self.show_scores)
        fixed = self.corrections.get(e.scored.tweet.id)
        if fixed:
            head = Text.assemble(corrected_mark(fixed), head, no_wrap=True, overflow="ellipsis", end="")
        head.truncate(inner, overflow="ellipsis")
        body = tweet_body(e.scored, e.body, p)
        parts = [head, *body.divide(e.breaks)] if e.body else [head, Text("")]
        strips = []
        for k, part in enumerate(parts):
            part.rstrip()
            strips.append(Strip([pointer if k == 0 else bar, *part.render(console)]).adjust_cell_length(width))
        url = e.scored.tweet.url
        if chosen and url:  # the selected post's link, on the line after it (u opens it)
            link = Text("↗ ", style=p.muted, no_wrap=True, overflow="ellipsis", end="")
            link.append(safe(url), style=Style(color=p.muted, underline=True))
            link.append("  u opens", style=Style(color=p.muted, italic=True))
            link.truncate(inner, overflow="ellipsis")
            strips.append(Strip([bar, *link.render(console)]).adjust_cell_length(width))
        else:
            strips.append(Strip.blank(width))
        e.lines = strips
        return strips

    def _relayout(self, added: int) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if width <= 0:
            return
        self._width = width
        order = list(reversed(self._view)) if self.newest_first else list(self._view)
        offsets = []
        y = 0
        added_lines = 0
        for i, e in enumerate(order):
            offsets.append(y)
            h = e.layout(width)
            y += h
            if self.newest_first and i < added:
                added_lines += h
        old_y = self.scroll_y
        at_end = old_y >= self.max_scroll_y - 1
        self._order, self._offsets, self._total_lines = order, offsets, y
        self.virtual_size = Size(width, y)
        if added:
            if self.newest_first and old_y > 0:
                # keep the tweet being read in place while new ones arrive above it
                self.scroll_to(y=old_y + added_lines, animate=False, immediate=True)
            elif not self.newest_first and at_end:
                self.scroll_to(y=max(0, y - self.scrollable_content_region.height), animate=False, immediate=True)
        self.refresh()

    def _follow(self, force: bool = False) -> None:
        if self.newest_first:
            self.scroll_to(y=0, animate=False, immediate=True)
        else:
            self.scroll_to(y=max(0, self._total_lines - self.scrollable_content_region.height), animate=False, immediate=True)

    def on_resize(self) -> None:
        self._relayout(0)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _t: self.invalidate())

    # -- drawing ------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        line = scroll_y + y
        if not self._order:
            if y == 1:
                p = palette_for(self.app.theme)
                msg = self.empty_message if not self.filters.active else "No tweets match the filters yet."
                strip = Strip([Segment("  " + msg, Style(color=p.muted, italic=True))])
                return strip.adjust_cell_length(width, self.rich_style).apply_style(self.rich_style)
            return Strip.blank(width, self.rich_style)
        if line >= self._total_lines:
            return Strip.blank(width, self.rich_style)
        i = bisect_right(self._offsets, line) - 1
        e = self._order[i]
        lines = self._draw(e)
        k = line - self._offsets[i]
        if k >= len(lines):
            return Strip.blank(width, self.rich_style)
        return lines[k].crop_extend(scroll_x, scroll_x + width, self.rich_style).apply_style(self.rich_style)
