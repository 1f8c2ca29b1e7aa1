"""The rolling aggregator: window by tweet time, counts, net, series, topics, window changes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from finterm.records import Scored, Tweet
from finterm.sinks.aggregate import Aggregator, net_score
from tests.firehose import one_off_cashtag_day
from tests.snapshots.fixture import LABELS

TOPICS = LABELS["topic"]

T0 = datetime(2014, 3, 3, 14, 0, tzinfo=timezone.utc)


def sc(minute: float, sentiment: str = "Bullish", topic: str = "Earnings", tickers=("AAPL",), i=[0]) -> Scored:
    i[0] += 1
    tw = Tweet(id=str(i[0]), created_at=T0 + timedelta(minutes=minute), author="a", text="t", tickers=tuple(tickers))
    return Scored(tweet=tw, sentiment=sentiment, sentiment_score=0.9, topic=topic, topic_score=0.8)


def test_counts_net_and_topics():
    agg = Aggregator(window_minutes=60, topics=TOPICS)
    agg.add_batch([
        sc(0, "Bullish", "Earnings", ("AAPL",)),
        sc(1, "Bullish", "Earnings", ("AAPL", "MSFT")),
        sc(2, "Bearish", "Macro", ("AAPL",)),
        sc(3, "Neutral", "Macro", ()),
    ])
    a = agg.ticker("AAPL")
    assert (a.bullish, a.bearish, a.neutral, a.total) == (2, 1, 0, 3)
    assert a.net == pytest.approx(1 / 3)
    assert agg.ticker("MSFT").net == 1.0
    assert agg.total == 4
    assert [s.ticker for s in agg.tickers()] == ["AAPL", "MSFT"]
    topics = agg.topic_counts()
    assert list(topics)[:20] == list(TOPICS)
    assert topics["Earnings"] == 2 and topics["Macro"] == 2 and topics["IPO"] == 0
    assert agg.topic_counts("AAPL")["Macro"] == 1
    assert agg.topic_counts("MSFT")["Macro"] == 0
    assert agg.topic_counts("NOPE")["Earnings"] == 0
    assert agg.now == T0 + timedelta(minutes=3)


def test_window_follows_tweet_time_and_evicts():
    agg = Aggregator(window_minutes=15)
    agg.add(sc(0, "Bearish", tickers=("OLD",)))
    agg.add(sc(10, "Bullish", tickers=("AAPL",)))
    assert agg.ticker("OLD") is not None
    agg.add(sc(15, "Bullish", tickers=("AAPL",)))  # minute 0 falls out (window is minutes 1..15)
    assert agg.ticker("OLD") is None
    assert "OLD" not in agg.ticker_names()
    assert agg.ticker("AAPL").total == 2
    assert agg.topic_counts()["Earnings"] == 2
    # a late tweet older than the window counts for the session, not the window
    agg.add(sc(-30, "Bearish", tickers=("LATE",)))
    assert agg.ticker("LATE") is None
    agg.set_window(None)
    assert agg.ticker("LATE").total == 1 and agg.ticker("OLD").total == 1
    assert agg.total == 4


def test_advance_to_moves_now_without_tweets():
    agg = Aggregator(window_minutes=15)
    agg.add(sc(0))
    agg.advance_to(T0 + timedelta(minutes=30))
    assert agg.total == 0 and agg.tickers() == []
    agg.advance_to(T0)  # never moves back
    assert agg.now == T0 + timedelta(minutes=30)


def test_set_window_rebuilds_from_buckets():
    agg = Aggregator(window_minutes=60)
    for m in range(0, 120, 10):
        agg.add(sc(m, "Bullish" if m % 20 else "Bearish"))
    assert agg.total == 6  # minutes 60..110
    agg.set_window(15)
    assert agg.total == 2  # minutes 100, 110
    agg.set_window(None)
    assert agg.total == 12
    agg.set_window(60)
    assert agg.total == 6
    agg.add(sc(121))
    assert agg.total == 6  # 60 falls out, 121 comes in


def test_series_per_minute():
    agg = Aggregator()
    agg.add(sc(0, "Bullish"))
    agg.add(sc(0.5, "Bearish"))
    agg.add(sc(2, "Bullish"))
    assert agg.series("AAPL", 4) == [(0, 0, 0), (1, 1, 0), (0, 0, 0), (1, 0, 0)]
    assert agg.net_series("AAPL", 3) == [0.0, None, 1.0]
    assert agg.net_series("NOPE", 2) == [None, None]
    assert agg.rate_per_minute(3) == pytest.approx(1.0)


def test_matches_brute_force_on_random_stream():
    rng = random.Random(7)
    agg = Aggregator(window_minutes=20, retain_minutes=30)
    items = []
    t = 0.0
    for _ in range(3000):
        t += rng.random() * 0.2
        lag = rng.random() * 5 if rng.random() < 0.1 else 0.0  # some out of order
        s = sc(t - lag, rng.choice(["Bullish", "Bearish", "Neutral"]), rng.choice(TOPICS[:5]),
               rng.sample(["A", "B", "C", "D"], rng.randint(0, 2)))
        items.append(s)
        agg.add(s)
    now_min = int(agg.now.timestamp() // 60)
    inwin = [s for s in items if int(s.tweet.created_at.timestamp() // 60) > now_min - 20]
    for tk in "ABCD":
        mine = [s for s in inwin if tk in s.tweet.tickers]
        st = agg.ticker(tk)
        bull = sum(s.sentiment == "Bullish" for s in mine)
        bear = sum(s.sentiment == "Bearish" for s in mine)
        assert st.total == len(mine) and st.bullish == bull and st.bearish == bear
        assert st.net == pytest.approx(net_score(bull, bear, len(mine)))
        for topic in TOPICS[:5]:
            assert agg.topic_counts(tk)[topic] == sum(s.topic == topic for s in mine)
    assert agg.total == len(inwin)


def test_bad_window():
    with pytest.raises(ValueError):
        Aggregator(window_minutes=0)


def test_session_counts_follow_at_most_max_tickers_least_recent_forgotten_first():
    agg = Aggregator(window_minutes=None, max_tickers=3)
    for t in ("A", "B", "C"):
        agg.add(sc(0, tickers=(t,)))
    agg.add(sc(1, tickers=("A",)))  # A is recent again
    agg.add(sc(2, "Bearish", tickers=("D",)))  # B, least recent, leaves the session counts
    assert agg.ticker_names() == ["A", "C", "D"]
    assert agg.ticker("A").total == 2 and agg.ticker("B") is None
    assert agg.tickers_forgotten == 1
    assert agg.total == 5 and agg.topic_counts()["Earnings"] == 5  # every post still counted
    agg.add(sc(3, tickers=("B",)))  # back, counted afresh
    assert agg.ticker("B").total == 1 and agg.ticker("C") is None


def test_session_memory_stays_flat_over_a_day_of_new_tickers():
    """A firehose of one-off cashtags for a simulated day: memory after 24 h ~ after 12 h."""
    agg = Aggregator(window_minutes=60, retain_minutes=120, max_tickers=500)
    sizes, n = one_off_cashtag_day(lambda m, tickers: agg.add(sc(m, tickers=tickers)))
    agg.set_window(None)
    assert len(agg.ticker_names()) <= 500
    assert agg.ticker("SPY").total == n
    assert sizes[1] < sizes[0] * 1.10
