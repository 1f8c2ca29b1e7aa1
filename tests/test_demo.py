"""The demo market: repeatable, varied, with news bursts of one tone, and its own words."""

from __future__ import annotations

import csv
import itertools
import threading
from collections import Counter
from datetime import datetime, timezone

import pytest

from finterm.sources.demo.phrases import BEAR, BULL, NEUTRAL, TEMPLATES, UNIVERSE
from finterm.sources.demo.simulator import DemoMarket, DemoSource
from finterm.text import parse_cashtags
from tests.conftest import REPO

TRAIN = REPO.parent / "shared" / "data" / "twitter-financial-news"
TOPICS_20 = {
    "Analyst Update", "Fed | Central Banks", "Company | Product News", "Treasuries | Corporate Debt", "Dividend",
    "Earnings", "Energy | Oil", "Financials", "Currencies", "General News | Opinion", "Gold | Metals | Materials",
    "IPO", "Legal | Regulation", "M&A | Investments", "Macro", "Markets", "Politics", "Personnel Change",
    "Stock Commentary", "Stock Movement",
}


def sample(seed: int, n: int = 3000):
    return list(itertools.islice(DemoMarket(seed, rate=4.0), n))


def test_same_seed_same_tweets_other_seed_other_tweets():
    a, b, c = sample(11, 300), sample(11, 300), sample(12, 300)
    assert [(d.t, d.author, d.text) for d in a] == [(d.t, d.author, d.text) for d in b]
    assert [d.text for d in a] != [d.text for d in c]


def test_templates_cover_all_topics_and_tones():
    assert set(TEMPLATES) == TOPICS_20
    for topic, by_tone in TEMPLATES.items():
        assert set(by_tone) == {BULL, BEAR, NEUTRAL}, topic
    sectors = {sector for _, _, sector, _ in UNIVERSE}
    assert len(UNIVERSE) >= 30 and len(sectors) >= 10


def test_stream_is_varied():
    ds = sample(5)
    topics = Counter(d.topic for d in ds)
    tones = Counter(d.tone for d in ds)
    tickers = Counter(t for d in ds for t in parse_cashtags(d.text))
    assert set(topics) == TOPICS_20
    assert all(tones[x] > 200 for x in (BULL, BEAR, NEUTRAL)), tones
    assert len(tickers) >= 30
    assert sum(1 for d in ds if parse_cashtags(d.text)) > 0.8 * len(ds)
    assert len({d.text for d in ds}) > 0.8 * len(ds)
    assert all("{" not in d.text and "}" not in d.text for d in ds)  # every placeholder filled
    assert [d.t for d in ds] == sorted(d.t for d in ds)


def test_news_events_bring_bursts_in_one_tone():
    ds = sample(3, 6000)
    headlines = [i for i, d in enumerate(ds) if d.headline]
    assert len(headlines) >= 5
    checked = 0
    for i in headlines:
        head = ds[i]
        ticker = parse_cashtags(head.text)[0] if parse_cashtags(head.text) else None
        if ticker is None or head.tone == NEUTRAL:
            continue
        after = [d for d in ds[i + 1:] if d.t - head.t < 15]
        about = [d for d in after if ticker in parse_cashtags(d.text)]
        before = [d for d in ds[:i] if head.t - d.t < 15 and ticker in parse_cashtags(d.text)]
        assert len(about) > len(before), head.text  # a burst about the news ticker
        toned = [d for d in about if d.tone != NEUTRAL]
        if toned:
            same = sum(d.tone == head.tone for d in toned)
            assert same >= 0.75 * len(toned), (head.text, Counter(d.tone for d in toned))
            checked += 1
    assert checked >= 3


def test_text_is_not_copied_from_the_data():
    data_texts = set()
    for name in ("sent_train.csv", "sent_valid.csv", "topic_train.csv", "topic_valid.csv"):
        p = TRAIN / name
        if p.exists():
            with p.open(newline="", encoding="utf-8") as f:
                data_texts.update(r["text"].strip() for r in csv.DictReader(f))
    if not data_texts:
        pytest.skip("training data not beside the repository")
    assert not {d.text.strip() for d in sample(9)} & data_texts


def test_source_plays_a_limited_stream_as_tweets():
    start = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
    src = DemoSource(seed=4, rate=50, limit=250, speed=None, start=start)
    got, statuses = [], []
    src.run(got.append, statuses.append, threading.Event())
    assert len(got) == 250 and len({t.id for t in got}) == 250
    assert got[0].created_at >= start and [t.created_at for t in got] == sorted(t.created_at for t in got)
    assert all(t.source == "demo" for t in got) and sum(bool(t.tickers) for t in got) > 200
    assert statuses[0].state == "live" and statuses[-1].state == "ended" and statuses[-1].position == 250
    assert "seed 4" in src.describe()


def test_source_stops_when_asked():
    src = DemoSource(seed=1, rate=2, limit=None, speed=1.0)
    stop, got = threading.Event(), []

    def emit(t):
        got.append(t)
        stop.set()

    th = threading.Thread(target=src.run, args=(emit, lambda s: None, stop))
    th.start()
    th.join(timeout=30)
    assert not th.is_alive() and len(got) == 1
