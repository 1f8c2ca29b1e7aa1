"""The alert engine: rules evaluated on the posts' own timestamps, one post at a time.

Pure and deterministic: no clock, no threads. "Now" is the latest post time seen, so a replay
gives the same alerts in the same order at any speed (batches may be cut differently; posts
are still taken one by one, in the order the pipeline scored them), and a live stream and a
replay of its recording give the same alerts too.

Per ticker the engine keeps sorted timestamps (all posts, bullish, bearish, per topic) for as
far back as the longest rule looks; a window's counts are two bisections, so a post costs
O(rules x log n) for each ticker it mentions, whatever the window.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from finterm.records import Scored

from .rules import Rule

#: Post ids an alert carries as examples (the latest ones that made it).
EXAMPLES = 5
#: Every this many posts, tickers with nothing left in their horizon are forgotten.
SWEEP_EVERY = 5000
_EPS = 1e-9


@dataclass(frozen=True)
class Alert:
    """One alert. `value` and `baseline` by kind: swing, net sentiment in the window and in the
    window before; volume, posts in the window and the trailing average per window; topic,
    posts of the rule's topics in the window and in the window before. `posts`: every post
    about the ticker in the window."""

    time: datetime
    ticker: str
    rule: str
    kind: str
    value: float
    baseline: float
    window: str
    posts: int
    example_ids: tuple[str, ...] = ()
    #: Raised while the history of a recording was loaded at start, not by this run's posts:
    #: listed (marked), but neither written, run through the command, nor rung.
    history: bool = field(default=False, compare=False)

    def to_json_dict(self) -> dict:
        """The `--alerts` line and the command's stdin: exactly these keys, in this order."""
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "ticker": self.ticker,
            "rule": self.rule,
            "kind": self.kind,
            "value": round(self.value, 4),
            "baseline": round(self.baseline, 4),
            "window": self.window,
            "posts": self.posts,
            "example_ids": list(self.example_ids),
        }

    def headline(self) -> str:
        """One line for a toast or a list: what moved, by how much, against what."""
        if self.kind == "swing":
            what = f"net {self.value:+.2f} (was {self.baseline:+.2f})"
        elif self.kind == "volume":
            what = f"{self.value:,.0f} posts (usually {self.baseline:,.1f})"
        else:
            what = f"{self.value:,.0f} topic posts (before: {self.baseline:,.0f})"
        return f"${self.ticker} {self.rule}: {what} in {self.window}"


class _Track:
    """One ticker's recent posts: (ts, seq, id, sentiment, topic) sorted by time, and the
    timestamps per category for counting."""

    __slots__ = ("posts", "all", "bull", "bear", "topics")

    def __init__(self) -> None:
        self.posts: list[tuple[float, int, str, int, str]] = []
        self.all: list[float] = []
        self.bull: list[float] = []
        self.bear: list[float] = []
        self.topics: dict[str, list[float]] = {}

    def add(self, ts: float, seq: int, pid: str, sent: int, topic: str) -> None:
        item = (ts, seq, pid, sent, topic)
        lists = [self.all, self.topics.setdefault(topic, [])]
        if sent == BULL:
            lists.append(self.bull)
        elif sent == BEAR:
            lists.append(self.bear)
        if not self.posts or ts >= self.posts[-1][0]:
            self.posts.append(item)
            for lst in lists:
                lst.append(ts)
        else:  # a late post (merged sources, an unsorted file): in its place
            insort(self.posts, item)
            for lst in lists:
                insort(lst, ts)

    def prune(self, cutoff: float) -> None:
        """Forget posts at or before `cutoff` (in chunks, so the cost stays amortized O(1))."""
        if not self.all or self.all[0] > cutoff:
            return
        n = bisect_right(self.all, cutoff)
        if n < 64 and n * 2 < len(self.all):
            return
        del self.posts[:n]
        del self.all[:n]
        for lst in (self.bull, self.bear, *self.topics.values()):
            del lst[: bisect_right(lst, cutoff)]
        for topic in [t for t, lst in self.topics.items() if not lst]:
            del self.topics[topic]

    def examples(self, lo: float, hi: float, keep) -> tuple[str, ...]:
        """Ids of the latest posts in (lo, hi] that `keep(sentiment, topic)` accepts."""
        out: list[str] = []
        for ts, _seq, pid, sent, topic in reversed(self.posts):
            if ts <= lo or len(out) >= EXAMPLES:
                break
            if ts <= hi and keep(sent, topic):
                out.append(pid)
        return tuple(out)


BULL, BEAR, NEU = 0, 1, 2
_SENT = {"bullish": BULL, "positive": BULL, "bearish": BEAR, "negative": BEAR}


def _count(lst: list[float], lo: float, hi: float) -> int:
    """Timestamps in (lo, hi]."""
    return bisect_right(lst, hi) - bisect_right(lst, lo)


class AlertEngine:
    """Feed it scored posts in pipeline order; it returns the alerts each one raises."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self.horizon_s = max((r.horizon_s for r in self.rules), default=0.0)
        self._tracks: dict[str, _Track] = {}
        self._last: dict[tuple[str, str], float] = {}  # (rule, ticker) -> post time it last fired
        self._cooldown = {r.name: r.cooldown_s for r in self.rules}
        self._now: float | None = None
        self._first: float | None = None
        self._seq = 0
        self.fired = 0

    @property
    def now(self) -> datetime | None:
        return None if self._now is None else datetime.fromtimestamp(self._now, timezone.utc)

    def add_batch(self, batch: Iterable[Scored]) -> list[Alert]:
        out: list[Alert] = []
        for sc in batch:
            out.extend(self.add(sc))
        return out

    def add(self, sc: Scored) -> list[Alert]:
        """Take one post; the alerts it raises, in rule order then ticker order."""
        if not self.rules:
            return []
        tw = sc.tweet
        created = tw.created_at if tw.created_at.tzinfo else tw.created_at.replace(tzinfo=timezone.utc)
        ts = created.timestamp()
        if self._now is None or ts > self._now:
            self._now = ts
        if self._first is None or ts < self._first:
            self._first = ts
        now = self._now
        cutoff = now - self.horizon_s
        if ts <= cutoff:
            return []  # older than any rule looks
        self._seq += 1
        sent = _SENT.get(sc.sentiment.strip().lower(), NEU)
        tickers = tuple(dict.fromkeys(tw.tickers))
        for t in tickers:
            track = self._tracks.get(t)
            if track is None:
                track = self._tracks[t] = _Track()
            track.add(ts, self._seq, tw.id, sent, sc.topic)
            track.prune(cutoff)
        if self._seq % SWEEP_EVERY == 0:
            self._sweep(cutoff)
        alerts = []
        for rule in self.rules:
            for t in tickers:
                if not rule.applies_to(t):
                    continue
                last = self._last.get((rule.name, t))
                if last is not None and now < last + rule.cooldown_s - _EPS:
                    continue
                alert = self._check(rule, t, self._tracks[t], now)
                if alert is not None:
                    self._last[(rule.name, t)] = now
                    self.fired += 1
                    alerts.append(alert)
        return alerts

    def _sweep(self, cutoff: float) -> None:
        for t in list(self._tracks):
            track = self._tracks[t]
            if not track.all or track.all[-1] <= cutoff:
                del self._tracks[t]
        now = self._now or 0.0
        for key in [k for k, at in self._last.items() if now - at > self._cooldown[k[0]]]:
            del self._last[key]  # its cooldown is over: the same as never fired

    def _check(self, rule: Rule, ticker: str, tr: _Track, now: float) -> Alert | None:
        w = rule.window_s
        lo = now - w
        posts = _count(tr.all, lo, now)
        when = datetime.fromtimestamp(now, timezone.utc)

        def alert(value: float, baseline: float, keep) -> Alert:
            return Alert(when, ticker, rule.name, rule.kind, float(value), float(baseline), rule.window,
                         posts, tr.examples(lo, now, keep))

        if rule.kind == "swing":
            need = max(rule.min_posts, 1)
            before = _count(tr.all, lo - w, lo)
            if posts < need or before < need:
                return None
            net = (_count(tr.bull, lo, now) - _count(tr.bear, lo, now)) / posts
            was = (_count(tr.bull, lo - w, lo) - _count(tr.bear, lo - w, lo)) / before
            if abs(net - was) + _EPS < rule.delta:
                return None
            side = BULL if net > was else BEAR
            return alert(net, was, lambda s, _t: s == side)
        if rule.kind == "volume":
            if self._first is None or now - self._first + _EPS < rule.baseline_s + w:
                return None  # the trailing period is not all seen yet: everything would look like a spike
            if posts < max(rule.min_posts, 1):
                return None
            avg = _count(tr.all, lo - rule.baseline_s, lo) / (rule.baseline_s / w)
            if posts + _EPS < rule.factor * max(avg, rule.floor):
                return None
            return alert(posts, avg, lambda _s, _t: True)
        # topic
        if posts < rule.min_posts:
            return None
        lists = [tr.topics.get(t, ()) for t in rule.topics]
        hits = sum(_count(lst, lo, now) for lst in lists)
        if hits < rule.count:
            return None
        before = sum(_count(lst, lo - w, lo) for lst in lists)
        wanted = set(rule.topics)
        return alert(hits, before, lambda _s, topic: topic in wanted)
