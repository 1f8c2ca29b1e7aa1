"""Ticker panel: tickers in the window with a bull/bear gauge, counts, net and a sparkline.

The watchlist from the config is pinned on top (★), whether or not it has been seen. The
table is rebuilt from an aggregator snapshot at most a few times a second, keeping the cursor
on the same ticker.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from finterm.sinks.aggregate import Aggregator, CrowdStats, TickerStats

from ..messages import TickerChosen, TickerHighlighted
from ..palette import palette_for
from ..render import gauge, net_text, safe, sparkline

SORTS = ("activity", "net", "name")


def crowd_text(c: CrowdStats, p) -> Text:
    """`75% 12`: the model agreed with 75% of the 12 posts whose authors tagged them; `–` for none."""
    if not c.total:
        return Text("–", style=p.muted, justify="right")
    return Text(f"{c.share:.0%} {c.total}", style=p.neutral, justify="right", no_wrap=True)
SORT_LABEL = {"activity": "activity", "net": "net sentiment", "name": "name"}


class TickerPanel(DataTable):
    """Tickers seen in the window; Enter or a click opens the row's ticker screen (TickerChosen)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open ticker", show=False)]

    def __init__(self, watchlist: list[str] | None = None, max_rows: int = 150, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True,
                         cursor_foreground_priority="renderable")
        self.watchlist = [w for w in (watchlist or []) if w]
        self.max_rows = max_rows
        self.sort = "activity"
        self.filter_ticker: str | None = None
        self._compact: bool | None = None
        self._agg: Aggregator | None = None
        self._window_minutes: int | None = 60
        #: Whether the Crowd column is shown: only once posts with their authors' own tags came in.
        self._crowd = False

    # -- columns --------------------------------------------------------------------------
    def _setup_columns(self) -> None:
        compact = self.size.width < 62
        if compact == self._compact:
            return
        self._compact = compact
        self.clear(columns=True)
        self._gauge_w = 8 if compact else 12
        self._spark_w = 9 if compact else 8 if self._crowd else 18  # the Crowd column takes the trend's room
        self.add_column("Ticker", key="ticker", width=7 if compact else 8)
        self.add_column("▲ vs ▼" if compact else "Bull vs Bear", key="gauge", width=self._gauge_w)
        self.add_column(Text("▲", justify="right"), key="bull", width=3 if compact else 4)
        self.add_column(Text("▼", justify="right"), key="bear", width=3 if compact else 4)
        if not compact:
            self.add_column(Text("●", justify="right"), key="neu", width=4)
        self.add_column(Text("Net", justify="right"), key="net", width=5)
        self.add_column("Trend", key="trend", width=self._spark_w)
        if self._crowd and not compact:
            self.add_column(Text("Crowd", justify="right"), key="crowd", width=8)
        if self._agg is not None:
            self.update_from(self._agg, self._window_minutes)

    def on_mount(self) -> None:
        self._setup_columns()
        self.app.theme_changed_signal.subscribe(self, lambda _t: self._agg and self.update_from(self._agg, self._window_minutes))

    def on_resize(self) -> None:
        self._setup_columns()

    # -- rows -----------------------------------------------------------------------------
    def _sorted(self, stats: list[TickerStats]) -> list[TickerStats]:
        if self.sort == "net":
            return sorted(stats, key=lambda s: (-s.net, -s.total, s.ticker))
        if self.sort == "name":
            return sorted(stats, key=lambda s: s.ticker)
        return stats  # the aggregator's order: most active first

    def update_from(self, agg: Aggregator, window_minutes: int | None) -> None:
        """Rebuild the rows from the aggregator (keeps the cursor on its ticker)."""
        self._agg = agg
        self._window_minutes = window_minutes
        if self._compact is None:
            return
        overall = agg.crowd()
        if bool(overall.total) != self._crowd:  # the Crowd column comes (or goes) with tagged posts
            self._crowd = bool(overall.total)
            self._compact = None
            self._setup_columns()  # draws the rows again
            return
        p = palette_for(self.app.theme)
        spark_minutes = min(window_minutes or 60, 60)
        stats = agg.tickers()
        pinned = []
        seen = {s.ticker: s for s in stats}
        for w in self.watchlist:
            pinned.append(seen.get(w) or TickerStats(w, 0, 0, 0))
        wl = set(self.watchlist)
        others = [s for s in stats if s.ticker not in wl]
        rest = self._sorted(others)[: max(0, self.max_rows - len(pinned))]
        cursor_key = None
        if self.row_count and 0 <= self.cursor_row < self.row_count:
            try:
                cursor_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
            except Exception:
                cursor_key = None
        scroll_y = self.scroll_y
        self.clear()
        for s in pinned + rest:
            name = Text(no_wrap=True, overflow="ellipsis")
            if s.ticker in wl:
                name.append("★", style=p.ticker)
            name.append(safe(s.ticker, 7), style="bold reverse" if s.ticker == self.filter_ticker else "bold")
            cells = [
                name,
                gauge(s.bullish, s.bearish, s.neutral, self._gauge_w, p),
                Text(str(s.bullish), style=p.bull, justify="right"),
                Text(str(s.bearish), style=p.bear, justify="right"),
            ]
            if not self._compact:
                cells.append(Text(str(s.neutral), style=p.neutral, justify="right"))
            nt = net_text(s.net, s.total, p)
            nt.justify = "right"
            cells.append(nt)
            cells.append(sparkline(agg.series(s.ticker, spark_minutes), self._spark_w, p))
            if self._crowd and not self._compact:
                cells.append(crowd_text(agg.crowd(s.ticker), p))
            self.add_row(*cells, key=s.ticker)
        if cursor_key is not None:
            try:
                self.move_cursor(row=self.get_row_index(cursor_key), animate=False, scroll=False)
            except Exception:
                pass
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        count = f"{len(stats)}" if len(rest) == len(others) else f"top {len(rest)} of {len(stats)}"
        title = f"Tickers · {count} · by {SORT_LABEL[self.sort]}"
        self.border_title = title
        # How often the model reads a post as its author tagged it (StockTwits' Bullish/Bearish).
        self.border_subtitle = (f"model agrees with the crowd {overall.share:.0%} of {overall.total:,}"
                                if overall.total else "")

    def crowd_cell(self, ticker: str) -> str:
        """The Crowd cell's text for a ticker (tests read it)."""
        return crowd_text(self._agg.crowd(ticker), palette_for(self.app.theme)).plain if self._agg else ""

    def current_ticker(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    def cycle_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        if self._agg is not None:
            self.update_from(self._agg, self._window_minutes)
        return self.sort

    # -- events ---------------------------------------------------------------------------
    async def _on_click(self, event: events.Click) -> None:
        """One click on a row opens it (DataTable alone wants a second click to select).

        Textual also runs DataTable._on_click after this one (it dispatches along the MRO), and
        that moves the cursor; it posts RowSelected only for a click on the cursor itself.
        """
        meta = event.style.meta
        before = self.cursor_coordinate
        row, col = meta.get("row"), meta.get("column")
        if row is None or col is None or row < 0 or col < 0 or Coordinate(row, col) == before:
            return  # a header, or a repeat click (DataTable posts RowSelected for that one)
        try:
            key = self.coordinate_to_cell_key(Coordinate(row, col)).row_key.value
        except Exception:
            return
        if key:
            self.post_message(TickerChosen(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.post_message(TickerChosen(event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(TickerHighlighted(event.row_key.value if event.row_key else None))
