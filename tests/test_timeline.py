"""The ticker screen's timeline: counts per minute, and bounded by time and by tickers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from finterm.records import Scored, Tweet
from finterm.sinks.aggregate import minute_of
from finterm.sinks.timeline import PRUNE_EVERY_MIN, Timeline
from tests.firehose import one_off_cashtag_day

T0 = datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc)
M0 = minute_of(T0)


def sc(minute: float, sentiment: str = "Bullish", tickers=("AAPL",), i=[0]) -> Scored:
    i[0] += 1
    tw = Tweet(id=str(i[0]), created_at=T0 + timedelta(minutes=minute), author="a", text="t " * 20,
               tickers=tuple(tickers), source="demo")
    return Scored(tweet=tw, sentiment=sentiment, sentiment_score=0.9, topic="Earnings", topic_score=0.8)


def test_counts_by_minute_and_bucket():
    tl = Timeline()
    tl.add_batch([sc(0), sc(0, "Bearish"), sc(1, "Neutral"), sc(5, "Bullish", ("AAPL", "MSFT"))])
    assert tl.span("AAPL") == (M0, M0 + 5)
    b = tl.buckets("AAPL", M0, M0 + 5, 3)
    assert [(x.bullish, x.bearish, x.neutral) for x in b] == [(1, 1, 1), (1, 0, 0)]
    assert tl.totals("AAPL").total == 4 and tl.totals("MSFT").total == 1
    assert tl.sources("AAPL") == {"demo": 4}
    assert [s.tweet.id for s, _h in tl.latest("AAPL")][0] == tl.latest("MSFT")[0][0].tweet.id


def test_minutes_past_the_retention_are_dropped():
    tl = Timeline(retain_minutes=60)
    for m in range(0, 300):
        tl.add(sc(m))
    first, last = tl.span("AAPL")
    assert last == M0 + 299
    assert first >= M0 + 299 - 60 + 1 - PRUNE_EVERY_MIN  # pruned every few minutes of post time
    assert tl.totals("AAPL").total == last - first + 1
    assert tl.span()[0] == first
    # a late post from before the retained span is not counted
    tl.add(sc(10))
    assert tl.totals("AAPL").total == last - first + 1
    # a ticker not seen for longer than the retention is forgotten
    tl2 = Timeline(retain_minutes=30)
    tl2.add(sc(0, tickers=("OLD",)))
    for m in range(1, 80):
        tl2.add(sc(m, tickers=("NEW",)))
    assert "OLD" not in tl2 and "NEW" in tl2


def test_at_most_max_tickers_least_recent_forgotten_first():
    tl = Timeline(max_tickers=3)
    for t in ("A", "B", "C"):
        tl.add(sc(0, tickers=(t,)))
    tl.add(sc(1, tickers=("A",)))  # A is recent again
    tl.add(sc(2, tickers=("D",)))  # B, least recent, goes
    assert tl.tickers() == ["A", "C", "D"] and len(tl) == 3


def test_memory_stays_flat_over_a_day_of_new_tickers():
    """A firehose of one-off cashtags for a simulated day: memory after 24 h ~ after 12 h."""
    tl = Timeline(retain_minutes=120, max_tickers=500)
    sizes, _ = one_off_cashtag_day(lambda m, tickers: tl.add(sc(m, tickers=tickers)))
    assert len(tl) <= 500
    assert sizes[1] < sizes[0] * 1.10
