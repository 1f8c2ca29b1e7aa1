"""Rolling per-ticker and per-topic state for the UI (plain Python, no UI imports).

Time is the tweets' own `created_at`: "now" is the latest tweet time seen (or a later time
given to `advance_to`, for live sources in quiet spells), so a replay of 2014 tweets fills
its window just as a live stream does. Counts are kept in one bucket per minute; the window
totals are updated as tweets arrive and as minutes fall out of the window, so a tweet costs
O(1) amortized (its tickers and topic), whatever the window.

A window of `None` is the whole session. Minute buckets are kept for `retain_minutes` (at
least the window) so the window can be changed, and sparklines drawn, without a rescan.
The session's per-ticker counts follow at most `max_tickers` tickers (a firehose's one-off
cashtags would grow them all day): past that, the ticker posted about least recently leaves
them; the overall and topic counts keep every post.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from finterm.records import Scored

BULL, BEAR, NEU = 0, 1, 2
#: Tickers the session counts follow by default (as the ticker screen's timeline).
MAX_TICKERS = 5000
_SENT_INDEX = {"bullish": BULL, "bearish": BEAR, "neutral": NEU, "positive": BULL, "negative": BEAR}


def sentiment_index(label: str) -> int:
    """0 bullish, 1 bearish, 2 neutral (anything unknown counts as neutral)."""
    return _SENT_INDEX.get(label.strip().lower(), NEU)


def minute_of(dt: datetime) -> int:
    """Minutes since the epoch (UTC) of an aware or naive-UTC datetime."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() // 60)


def net_score(bull: int, bear: int, total: int) -> float:
    """(bull - bear) / total, 0.0 for no tweets."""
    return (bull - bear) / total if total else 0.0


@dataclass(frozen=True, slots=True)
class TickerStats:
    ticker: str
    bullish: int
    bearish: int
    neutral: int

    @property
    def total(self) -> int:
        return self.bullish + self.bearish + self.neutral

    @property
    def net(self) -> float:
        return net_score(self.bullish, self.bearish, self.total)


@dataclass(frozen=True, slots=True)
class CrowdStats:
    """Posts that carry their author's own tag (StockTwits' Bullish/Bearish), and how many of
    them the model read the same way."""

    agree: int = 0
    total: int = 0

    @property
    def share(self) -> float | None:
        """agree / total, None without tagged posts."""
        return self.agree / self.total if self.total else None


class _Counts:
    """Sentiment counts overall, per ticker, and topic counts overall and per ticker; crowd
    agreement (agree, tagged) overall and per ticker."""

    __slots__ = ("overall", "tickers", "topics", "ticker_topics", "crowd", "ticker_crowd")

    def __init__(self) -> None:
        self.overall = [0, 0, 0]
        self.tickers: dict[str, list[int]] = {}
        self.topics: dict[str, int] = {}
        self.ticker_topics: dict[str, dict[str, int]] = {}
        self.crowd = [0, 0]
        self.ticker_crowd: dict[str, list[int]] = {}

    def add_one(self, s: int, topic: str, tickers: Iterable[str], agrees: bool | None = None) -> None:
        self.overall[s] += 1
        self.topics[topic] = self.topics.get(topic, 0) + 1
        if agrees is not None:
            self.crowd[0] += agrees
            self.crowd[1] += 1
        for t in tickers:
            c = self.tickers.get(t)
            if c is None:
                c = self.tickers[t] = [0, 0, 0]
                self.ticker_topics[t] = {}
            c[s] += 1
            tt = self.ticker_topics[t]
            tt[topic] = tt.get(topic, 0) + 1
            if agrees is not None:
                cc = self.ticker_crowd.get(t)
                if cc is None:
                    cc = self.ticker_crowd[t] = [0, 0]
                cc[0] += agrees
                cc[1] += 1

    def merge(self, other: "_Counts", sign: int) -> None:
        """Add (sign=1) or subtract (sign=-1) another set of counts; zero entries are dropped."""
        for i in range(3):
            self.overall[i] += sign * other.overall[i]
        self.crowd[0] += sign * other.crowd[0]
        self.crowd[1] += sign * other.crowd[1]
        for t, oc in other.ticker_crowd.items():
            cc = self.ticker_crowd.get(t)
            if cc is None:
                cc = self.ticker_crowd[t] = [0, 0]
            cc[0] += sign * oc[0]
            cc[1] += sign * oc[1]
            if not cc[1]:
                del self.ticker_crowd[t]
        for topic, n in other.topics.items():
            v = self.topics.get(topic, 0) + sign * n
            if v:
                self.topics[topic] = v
            else:
                self.topics.pop(topic, None)
        for t, oc in other.tickers.items():
            c = self.tickers.get(t)
            if c is None:
                c = self.tickers[t] = [0, 0, 0]
                self.ticker_topics[t] = {}
            c[0] += sign * oc[0]
            c[1] += sign * oc[1]
            c[2] += sign * oc[2]
            tt = self.ticker_topics[t]
            for topic, n in other.ticker_topics[t].items():
                v = tt.get(topic, 0) + sign * n
                if v:
                    tt[topic] = v
                else:
                    tt.pop(topic, None)
            if not (c[0] or c[1] or c[2]):
                del self.tickers[t]
                del self.ticker_topics[t]

    @property
    def total(self) -> int:
        return sum(self.overall)


class Aggregator:
    """Rolling window over scored tweets, bucketed by minute of tweet time."""

    def __init__(self, window_minutes: int | None = 60, retain_minutes: int = 240, topics: Iterable[str] = (),
                 max_tickers: int = MAX_TICKERS) -> None:
        if window_minutes is not None and window_minutes < 1:
            raise ValueError("window_minutes must be at least 1 (or None for the session)")
        self._window = window_minutes
        #: The model's topic labels (its folder's id2label), listed first and with zeros.
        self.topics = tuple(topics)
        self._retain = max(retain_minutes, window_minutes or 0, 1)
        self._buckets: dict[int, _Counts] = {}
        self._mins: list[int] = []  # sorted minute keys of the retained buckets
        self._win = _Counts()  # the current window (unused when the window is the session)
        self._session = _Counts()
        self.max_tickers = max(1, int(max_tickers))
        #: The session's tickers, posted about least recently first (the eviction order).
        self._session_order: OrderedDict[str, None] = OrderedDict()
        #: Tickers dropped from the session counts so far.
        self.tickers_forgotten = 0
        self._now_min: int | None = None
        self._now: datetime | None = None
        self._win_start: int | None = None  # first minute inside the window
        self.seen = 0  # every tweet added this session

    # -- input -------------------------------------------------------------------------
    def add(self, scored: Scored) -> None:
        tw = scored.tweet
        created = tw.created_at
        m = minute_of(created)
        if self._now is None or created > self._now:
            self._advance(created, m)
        s = sentiment_index(scored.sentiment)
        tickers = tw.tickers
        topic = scored.topic
        crowd = tw.crowd_sentiment
        agrees = None if not crowd else sentiment_index(crowd) == s
        self.seen += 1
        self._session.add_one(s, topic, tickers, agrees)
        self._follow(tickers)
        if m > self._now_min - self._retain:
            b = self._buckets.get(m)
            if b is None:
                b = self._buckets[m] = _Counts()
                if not self._mins or m > self._mins[-1]:
                    self._mins.append(m)
                else:
                    insort(self._mins, m)
            b.add_one(s, topic, tickers, agrees)
        if self._window is not None and m >= self._win_start:
            self._win.add_one(s, topic, tickers, agrees)

    def _follow(self, tickers: Iterable[str]) -> None:
        """Mark these tickers as posted about now; forget the least recent past the cap."""
        order = self._session_order
        for t in tickers:
            if t in order:
                order.move_to_end(t)
            else:
                order[t] = None
        sess = self._session
        while len(order) > self.max_tickers:
            old, _ = order.popitem(last=False)
            sess.tickers.pop(old, None)
            sess.ticker_topics.pop(old, None)
            sess.ticker_crowd.pop(old, None)
            self.tickers_forgotten += 1

    def add_batch(self, batch: Iterable[Scored]) -> None:
        for sc in batch:
            self.add(sc)

    def advance_to(self, now: datetime) -> None:
        """Move "now" forward without a tweet (a quiet live stream); never moves it back."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        if self._now is None or now > self._now:
            self._advance(now, minute_of(now))

    def _advance(self, now: datetime, m: int) -> None:
        self._now = now
        if self._now_min is not None and m <= self._now_min:
            return
        self._now_min = m
        if self._window is not None:
            new_start = m - self._window + 1
            if self._win_start is not None and new_start > self._win_start:
                lo = bisect_left(self._mins, self._win_start)
                hi = bisect_left(self._mins, new_start)
                for k in self._mins[lo:hi]:
                    self._win.merge(self._buckets[k], -1)
            self._win_start = new_start
        cut = bisect_left(self._mins, m - self._retain + 1)
        if cut:
            for k in self._mins[:cut]:
                del self._buckets[k]
            del self._mins[:cut]

    # -- window ------------------------------------------------------------------------
    @property
    def window_minutes(self) -> int | None:
        return self._window

    def set_window(self, minutes: int | None) -> None:
        """Change the window; rebuilt from the retained minute buckets."""
        if minutes is not None and minutes < 1:
            raise ValueError("window_minutes must be at least 1 (or None for the session)")
        self._window = minutes
        if minutes is not None and minutes > self._retain:
            self._retain = minutes
        self._win = _Counts()
        if minutes is None or self._now_min is None:
            self._win_start = None
            return
        self._win_start = self._now_min - minutes + 1
        for k in self._mins[bisect_left(self._mins, self._win_start):]:
            self._win.merge(self._buckets[k], 1)

    @property
    def _current(self) -> _Counts:
        return self._session if self._window is None else self._win

    # -- reading -----------------------------------------------------------------------
    @property
    def now(self) -> datetime | None:
        """The latest tweet time seen (or given to advance_to)."""
        return self._now

    @property
    def total(self) -> int:
        """Tweets in the window."""
        return self._current.total

    def overall(self) -> TickerStats:
        """Sentiment counts of every tweet in the window (ticker field is empty)."""
        o = self._current.overall
        return TickerStats("", o[BULL], o[BEAR], o[NEU])

    def ticker(self, ticker: str) -> TickerStats | None:
        c = self._current.tickers.get(ticker)
        return TickerStats(ticker, c[BULL], c[BEAR], c[NEU]) if c else None

    def tickers(self) -> list[TickerStats]:
        """Every ticker seen in the window, most active first (ties by name)."""
        out = [TickerStats(t, c[BULL], c[BEAR], c[NEU]) for t, c in self._current.tickers.items()]
        out.sort(key=lambda s: (-s.total, s.ticker))
        return out

    def crowd(self, ticker: str | None = None) -> CrowdStats:
        """How often the model agrees with the authors' own tags in the window, overall or for a ticker."""
        cur = self._current
        c = cur.crowd if ticker is None else cur.ticker_crowd.get(ticker)
        return CrowdStats(c[0], c[1]) if c else CrowdStats()

    def ticker_names(self) -> list[str]:
        return sorted(self._current.tickers)

    def topic_counts(self, ticker: str | None = None) -> dict[str, int]:
        """Counts per topic in the window, the model's topics first (zeros included)."""
        cur = self._current
        src = cur.topics if ticker is None else cur.ticker_topics.get(ticker, {})
        out = {t: src.get(t, 0) for t in self.topics}
        for t, n in src.items():
            if t not in out:
                out[t] = n
        return out

    def series(self, ticker: str | None = None, minutes: int = 30) -> list[tuple[int, int, int]]:
        """(bullish, bearish, neutral) per minute for the last `minutes` minutes, oldest first.

        The last element is the current minute. Minutes older than the retained buckets, or
        without tweets, are (0, 0, 0).
        """
        if self._now_min is None or minutes <= 0:
            return []
        out = []
        get = self._buckets.get
        for m in range(self._now_min - minutes + 1, self._now_min + 1):
            b = get(m)
            c = None
            if b is not None:
                c = b.overall if ticker is None else b.tickers.get(ticker)
            out.append((c[BULL], c[BEAR], c[NEU]) if c else (0, 0, 0))
        return out

    def net_series(self, ticker: str | None = None, minutes: int = 30) -> list[float | None]:
        """Net score per minute (None for a minute without tweets), oldest first."""
        return [net_score(b, r, b + r + n) if (b + r + n) else None for b, r, n in self.series(ticker, minutes)]

    def rate_per_minute(self, minutes: int = 5) -> float:
        """Mean tweets per minute over the last `minutes` minutes of tweet time (current included)."""
        s = self.series(None, minutes)
        return sum(b + r + n for b, r, n in s) / minutes if s else 0.0
