"""Where a post came from survives the files: recordings carry url and crowd_sentiment, a
recording from before those columns still replays and can be recorded onto, and replay
gives them back."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from finterm.records import Scored, make_tweet
from finterm.sinks.recorder import Recorder
from finterm.sources.replay import read_rows

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def scored(i: int, **kw) -> Scored:
    return Scored(make_tweet(str(i), T0, "u", f"$AAPL post {i}", source="stocktwits", **kw), "Bullish", 0.9, "Earnings", 0.8)


def old_recording(path):
    """The columns recordings had before the live sources (no url, no crowd_sentiment)."""
    pl.DataFrame({"created_at": [T0], "id": ["old1"], "user": ["u"], "symbols": ["AAPL"], "text": ["$AAPL old"],
                  "lang": [None], "source": ["x-stream"], "sentiment": ["Bearish"], "sentiment_score": [0.7],
                  "topic": ["Earnings"], "topic_score": [0.6], "batch_latency_ms": [1.0]},
                 schema_overrides={"created_at": pl.Datetime("us", "UTC"), "lang": pl.String}).write_parquet(path)


def test_old_recordings_replay_and_take_new_rows(tmp_path):
    path = tmp_path / "old.parquet"
    old_recording(path)
    (row,) = read_rows(path)
    assert row.id == "old1" and row.url is None and row.crowd_sentiment is None

    rec = Recorder(path)
    rec([scored(2, url="https://stocktwits.com/u/message/2", crowd_sentiment="Bullish")])
    rec.close()
    df = pl.read_parquet(path)
    assert df["id"].to_list() == ["old1", "2"]
    assert df["url"].to_list() == [None, "https://stocktwits.com/u/message/2"]
    assert df["crowd_sentiment"].to_list() == [None, "Bullish"]
    rows = read_rows(path)
    assert [(r.url, r.crowd_sentiment) for r in rows] == [(None, None), ("https://stocktwits.com/u/message/2", "Bullish")]


def test_make_tweet_keeps_only_plain_https_links_and_known_tags():
    ok = make_tweet("1", T0, "u", "t", url="https://bsky.app/profile/did:plc:x/post/a", crowd_sentiment="bearish")
    assert ok.url.startswith("https://bsky.app/") and ok.crowd_sentiment == "Bearish"
    for bad in ("javascript:alert(1)", "http://x.y/z", "https://x.y/\x1b[2J", "https://x.y/a b", 42):
        assert make_tweet("1", T0, "u", "t", url=bad).url is None
    assert make_tweet("1", T0, "u", "t", crowd_sentiment="Moon").crowd_sentiment is None
    d = Scored(ok, "Bearish", 0.9, "Earnings", 0.8).to_json_dict()
    assert list(d)[-3:] == ["source", "url", "crowd_sentiment"] and d["crowd_sentiment"] == "Bearish"
