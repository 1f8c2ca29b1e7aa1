"""Each ticker's session for its own screen (plain Python, no UI imports).

The aggregator (aggregate.py) keeps a rolling window for the panels; the ticker screen needs
more: the ticker's sentiment over the session (a replay of a recording shows all of it; a
restart on a recording shows the history loaded before going live), the sources its posts
came from, how often the model agrees with the crowd's own tags, and its latest posts.
Time is the posts' own (`created_at`), bucketed by minute; a post costs O(1) per ticker.

An app left open all day must not grow with it: minutes older than `retain_minutes` before
the newest post are dropped (every `PRUNE_EVERY_MIN` minutes of post time), and at most
`max_tickers` tickers are followed (a firehose's one-off cashtags): past that, the ticker
posted about least recently is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Iterable

from finterm.records import Scored

from .aggregate import BEAR, BULL, minute_of, sentiment_index

#: Latest posts kept per ticker (the screen lists them, newest first; kept without their
#: probability vectors, which it does not show, so a firehose of tickers stays light).
LATEST = 40
_CROWD = {"bullish": BULL, "bearish": BEAR}
#: Minutes kept by default: a trading day and the night before it.
RETAIN_MINUTES = 24 * 60
#: Tickers followed at most (each costs its minute counts and LATEST posts).
MAX_TICKERS = 5000
#: How often (in minutes of post time) minutes past the retention are dropped.
PRUNE_EVERY_MIN = 10


@dataclass(frozen=True, slots=True)
class Bucket:
    """Counts over a span of minutes."""

    bullish: int = 0
    bearish: int = 0
    neutral: int = 0

    @property
    def total(self) -> int:
        return self.bullish + self.bearish + self.neutral

    @property
    def net(self) -> float | None:
        return (self.bullish - self.bearish) / self.total if self.total else None


class _Line:
    __slots__ = ("minutes", "sources", "crowd", "latest")

    def __init__(self) -> None:
        #: minute -> [bullish, bearish, neutral]
        self.minutes: dict[int, list[int]] = {}
        #: minute -> {source: posts}
        self.sources: dict[int, dict[str, int]] = {}
        #: minute -> [posts with a crowd tag, of which the model agrees]
        self.crowd: dict[int, list[int]] = {}
        #: (post, from history) newest last
        self.latest: deque[tuple[Scored, bool]] = deque(maxlen=LATEST)


class Timeline:
    """Per-ticker minute buckets over the session (its last `retain_minutes`), history first."""

    def __init__(self, retain_minutes: int = RETAIN_MINUTES, max_tickers: int = MAX_TICKERS) -> None:
        self.retain_minutes = max(1, int(retain_minutes))
        self.max_tickers = max(1, int(max_tickers))
        #: ticker -> its line, the ticker posted about least recently first.
        self._lines: OrderedDict[str, _Line] = OrderedDict()
        self._pruned_at: int | None = None
        #: The newest post time of the history loaded at start (None: no history).
        self.history_until: datetime | None = None
        self.history_posts = 0
        self._first: int | None = None
        self._last: int | None = None

    def add_batch(self, batch: Iterable[Scored], history: bool = False) -> None:
        for sc in batch:
            self.add(sc, history)

    def add(self, sc: Scored, history: bool = False) -> None:
        tw = sc.tweet
        if not tw.tickers:
            return
        m = minute_of(tw.created_at)
        if self._last is None or m > self._last:
            self._last = m
            if self._pruned_at is None:
                self._pruned_at = m
            elif m - self._pruned_at >= PRUNE_EVERY_MIN:
                self._prune(m - self.retain_minutes + 1)
        if m < self._last - self.retain_minutes + 1:
            return  # already out of the retained span (a late post)
        if self._first is None or m < self._first:
            self._first = m
        if history:
            self.history_posts += 1
            when = tw.created_at if tw.created_at.tzinfo else tw.created_at.replace(tzinfo=timezone.utc)
            if self.history_until is None or when > self.history_until:
                self.history_until = when
        s = sentiment_index(sc.sentiment)
        source = str(getattr(tw, "source", "") or "")
        crowd = getattr(tw, "crowd_sentiment", None)
        crowd_i = _CROWD.get(crowd.strip().lower()) if isinstance(crowd, str) else None
        if sc.sentiment_probs or sc.topic_probs:
            sc = replace(sc, sentiment_probs={}, topic_probs={})
        for t in dict.fromkeys(tw.tickers):
            line = self._lines.get(t)
            if line is None:
                line = self._lines[t] = _Line()
                if len(self._lines) > self.max_tickers:
                    self._lines.popitem(last=False)
            else:
                self._lines.move_to_end(t)
            c = line.minutes.get(m)
            if c is None:
                c = line.minutes[m] = [0, 0, 0]
            c[s] += 1
            if source:
                d = line.sources.setdefault(m, {})
                d[source] = d.get(source, 0) + 1
            if crowd_i is not None:
                cc = line.crowd.setdefault(m, [0, 0])
                cc[0] += 1
                cc[1] += crowd_i == s
            line.latest.append((sc, history))

    def _prune(self, cut: int) -> None:
        """Drop every minute before `cut`, and the tickers left with none."""
        self._pruned_at = self._last
        for t in list(self._lines):
            line = self._lines[t]
            if not line.minutes or min(line.minutes) >= cut:
                continue
            line.minutes = {m: c for m, c in line.minutes.items() if m >= cut}
            line.sources = {m: d for m, d in line.sources.items() if m >= cut}
            line.crowd = {m: c for m, c in line.crowd.items() if m >= cut}
            if not line.minutes:
                del self._lines[t]
        if self._first is not None and self._first < cut:
            self._first = cut

    # -- reading ------------------------------------------------------------------------
    def __contains__(self, ticker: str) -> bool:
        return ticker in self._lines

    def span(self, ticker: str | None = None) -> tuple[int, int] | None:
        """(first, last) minute with posts, for a ticker or for everything."""
        if ticker is None:
            return None if self._first is None else (self._first, self._last)
        line = self._lines.get(ticker)
        if not line or not line.minutes:
            return None
        return min(line.minutes), max(line.minutes)

    def buckets(self, ticker: str, start: int, end: int, step: int) -> list[Bucket]:
        """Counts per `step` minutes from minute `start` up to and including `end`."""
        step = max(1, step)
        n = max(0, (end - start) // step + 1)
        out = [[0, 0, 0] for _ in range(n)]
        line = self._lines.get(ticker)
        if line is not None and n:
            if len(line.minutes) < n * step:
                items = ((m, c) for m, c in line.minutes.items() if start <= m <= end)
            else:
                items = ((m, line.minutes[m]) for m in range(start, end + 1) if m in line.minutes)
            for m, c in items:
                b = out[(m - start) // step]
                b[0] += c[0]
                b[1] += c[1]
                b[2] += c[2]
        return [Bucket(*b) for b in out]

    def totals(self, ticker: str, since: int | None = None) -> Bucket:
        """Counts since minute `since` (None: the whole session)."""
        line = self._lines.get(ticker)
        b = [0, 0, 0]
        if line is not None:
            for m, c in line.minutes.items():
                if since is None or m >= since:
                    b[0] += c[0]
                    b[1] += c[1]
                    b[2] += c[2]
        return Bucket(*b)

    def sources(self, ticker: str, since: int | None = None) -> dict[str, int]:
        """Posts per source since minute `since`, most first."""
        line = self._lines.get(ticker)
        out: dict[str, int] = {}
        if line is not None:
            for m, d in line.sources.items():
                if since is None or m >= since:
                    for k, v in d.items():
                        out[k] = out.get(k, 0) + v
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def crowd(self, ticker: str, since: int | None = None) -> tuple[int, int]:
        """(posts whose author tagged them Bullish/Bearish, of which the model agrees)."""
        line = self._lines.get(ticker)
        n = agree = 0
        if line is not None:
            for m, (cn, ca) in line.crowd.items():
                if since is None or m >= since:
                    n += cn
                    agree += ca
        return n, agree

    def latest(self, ticker: str, n: int = LATEST) -> list[tuple[Scored, bool]]:
        """The ticker's latest posts, newest first, each with whether it came from history."""
        line = self._lines.get(ticker)
        if line is None:
            return []
        items = list(line.latest)
        items.reverse()
        return items[:n]

    def tickers(self) -> list[str]:
        return sorted(self._lines)

    def __len__(self) -> int:
        """Tickers followed now."""
        return len(self._lines)

