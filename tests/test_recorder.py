"""The recorder: appends, keeps old rows, replays, and survives SIGKILL with a readable file."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from finterm.engine.errors import InputError
from finterm.engine.records import Scored, Tweet
from finterm.feed.recorder import Recorder
from finterm.feed.sources.replay import ReplaySource
from tests.conftest import popen_finterm

T0 = datetime(2024, 5, 1, 13, 0, tzinfo=timezone.utc)


def scored(i: int, text: str | None = None) -> Scored:
    tw = Tweet(id=f"id{i}", created_at=T0 + timedelta(seconds=i), author=f"user{i}",
               text=text or f"$AAPL tweet number {i}", tickers=("AAPL",) if text is None else ())
    return Scored(tw, "Bullish", 0.75, "Earnings", 0.5, batch_latency_ms=2.0)


def test_records_and_appends_keeping_old_rows(tmp_path):
    out = tmp_path / "rec" / "out.parquet"
    r = Recorder(out)
    r([scored(0), scored(1)])
    r([scored(2)])
    r.close()
    df = pl.read_parquet(out)
    assert df["id"].to_list() == ["id0", "id1", "id2"]
    assert {"created_at", "id", "user", "symbols", "text", "sentiment", "sentiment_score", "topic", "topic_score"} <= set(df.columns)
    assert df["symbols"][0] == "AAPL" and df["sentiment"][0] == "Bullish"

    r2 = Recorder(out)
    assert r2.existing_rows == 3
    r2([scored(3)])
    r2.close()
    assert pl.read_parquet(out)["id"].to_list() == ["id0", "id1", "id2", "id3"]
    assert not [p for p in out.parent.iterdir() if p.name != "out.parquet"]  # no temp files left


def test_close_without_rows_leaves_no_file(tmp_path):
    r = Recorder(tmp_path / "none.parquet")
    r.close()
    assert not (tmp_path / "none.parquet").exists()


def test_recording_replays_with_the_same_tweets(tmp_path):
    out = tmp_path / "out.parquet"
    r = Recorder(out)
    hostile = "\x1b]0;pwn\x07 [bold red]$TSLA[/] <b>&amp;</b>"
    r([scored(0), scored(1, text=hostile)])
    r.close()
    got: list[Tweet] = []
    ReplaySource(out, speed=None).run(got.append, lambda s: None, threading.Event())
    assert [t.id for t in got] == ["id0", "id1"]
    assert got[0].tickers == ("AAPL",) and got[0].created_at == T0
    assert got[1].text == hostile.replace("\x1b", " ").replace("\x07", " ")  # entities kept as scored


def test_periodic_writes_are_readable_while_recording(tmp_path):
    out = tmp_path / "live.parquet"
    r = Recorder(out, min_interval_s=0.05)
    for i in range(20):
        r([scored(i)])
        deadline = time.monotonic() + 10
        while r.rows_written < i + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pl.read_parquet(out)["id"].to_list() == [f"id{j}" for j in range(i + 1)]
    r.close()


def test_refuses_to_clobber_a_non_recording(tmp_path):
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(InputError, match="not a readable parquet"):
        Recorder(junk)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(other)
    with pytest.raises(InputError, match="not a finterm recording"):
        Recorder(other)
    with pytest.raises(InputError, match=r"\.parquet"):
        Recorder(tmp_path / "out.csv")
    assert junk.read_text() == "not parquet"


def test_sigkill_leaves_a_readable_prefix(tmp_path, cli_env, model_args):
    """Kill -9 a busy recording run: the file is readable and holds the first N tweets printed."""
    out = tmp_path / "killed.parquet"
    proc = popen_finterm(["--demo", "--seed", "8", "--speed", "max", "--headless", "--record", out, *model_args],
                         tmp_path, cli_env)
    printed: list[str] = []
    try:
        for line in proc.stdout:
            printed.append(json.loads(line)["id"])
            if len(printed) % 500 == 0 and out.exists() and pl.read_parquet(out).height > 1000:
                break
        assert out.exists(), proc.stderr.read().decode() if proc.poll() is not None else "no recording"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    df = pl.read_parquet(out)
    ids = df["id"].to_list()
    assert len(ids) > 1000
    assert ids == printed[: len(ids)] or printed == ids[: len(printed)]
    replayed: list[Tweet] = []
    ReplaySource(out, speed=None).run(replayed.append, lambda s: None, threading.Event())
    assert [t.id for t in replayed] == ids
