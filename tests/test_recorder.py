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

from finterm.errors import InputError
from finterm.records import Scored, Tweet
from finterm.sinks.recorder import Recorder
from finterm.sources.replay import ReplaySource
from finterm.store import recording_files as files
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


def test_sigkill_leaves_a_readable_prefix(tmp_path, cli_env, model_args, finterm):
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
    in_file = pl.read_parquet(out)["id"].to_list()
    assert len(in_file) > 1000
    # The parquet file plus the journal (what a replay reads) is a prefix of what was printed.
    ids = _replayed_ids(out)
    assert ids[: len(in_file)] == in_file
    assert ids == printed[: len(ids)] or printed == ids[: len(printed)]
    journaled = len(ids) - len(in_file)
    # The next recording merges the journal, and says so when there was something to merge.
    done = finterm("--demo", "--seed", "9", "--limit", "3", "--speed", "max", "--headless", "--record", out, *model_args)
    assert done.returncode == 0, done.stderr.decode()
    assert (f"merged {journaled:,} rows" in done.stderr.decode()) == (journaled > 0)
    assert pl.read_parquet(out)["id"].to_list()[: len(ids)] == ids
    assert pl.read_parquet(out).height == len(ids) + 3


def _replayed_ids(path, warnings=None) -> list[str]:
    got: list[Tweet] = []
    ReplaySource(path, speed=None, warn=(warnings.append if warnings is not None else None)).run(
        got.append, lambda s: None, threading.Event())
    return [t.id for t in got]


def test_journal_puts_rows_on_disk_without_rewriting_the_file(tmp_path):
    """Between merges, new rows reach the disk through the journal; the parquet file is untouched."""
    out = tmp_path / "j.parquet"
    r = Recorder(out, min_interval_s=3600)  # the writer thread stays asleep; steps are called here
    r([scored(0), scored(1)])
    r.flush()
    before = out.stat().st_mtime_ns, out.read_bytes()
    r([scored(2)])
    r.journal()
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before
    assert r.rows_journaled == 3 and r.rows_written == 2
    assert files.read_journal(files.journal_path(out))[0]["id"] == "id2"
    warnings: list[str] = []
    assert _replayed_ids(out, warnings) == ["id0", "id1", "id2"]  # a reader sees the journal too
    assert "not merged" in warnings[0]
    r.close()
    assert pl.read_parquet(out)["id"].to_list() == ["id0", "id1", "id2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.parquet"]


def test_a_killed_recordings_journal_is_merged_by_the_next_recording(tmp_path):
    out = tmp_path / "k.parquet"
    r = Recorder(out, min_interval_s=3600)
    r([scored(0)])
    r.flush()
    r([scored(1), scored(2, text="line\nbreak \"quoted\" \u2028 é")])
    r.journal()
    with files.journal_path(out).open("a") as f:
        f.write('{"created_at": "2024-05-01T13:00:09+00:00", "id": "cut sh')  # the kill hit mid-line
    # The process dies here: no close(). Its lock goes with it.
    r._release_lock()
    r2 = Recorder(out)
    assert r2.recovered_rows == 2 and r2.existing_rows == 3
    r2([scored(3)])
    r2.close()
    df = pl.read_parquet(out)
    assert df["id"].to_list() == ["id0", "id1", "id2", "id3"]
    assert df["text"][2] == "line\nbreak \"quoted\" \u2028 é"
    assert df["created_at"][2] == T0 + timedelta(seconds=2)


def test_a_merge_cut_between_its_renames_is_finished_exactly_once(tmp_path):
    """The marker's row count says whether the new file had landed: no row lost, none twice."""
    out = tmp_path / "m.parquet"
    r = Recorder(out, min_interval_s=3600)
    r([scored(0), scored(1)])
    r.flush()
    r([scored(2)])
    r.journal()
    r._release_lock()
    # Killed after the journal was renamed, before the new file replaced the old one:
    os.replace(files.journal_path(out), tmp_path / ".m.parquet.merged-3")
    assert _replayed_ids(out) == ["id0", "id1", "id2"]
    r2 = Recorder(out)
    assert r2.recovered_rows == 1
    r2.close()
    assert pl.read_parquet(out)["id"].to_list() == ["id0", "id1", "id2"]
    # Killed after the new file landed, before the marker was deleted:
    (tmp_path / ".m.parquet.merged-3").write_text(files.encode_row({"id": "id2", "text": "x", "created_at": T0}))
    assert _replayed_ids(out) == ["id0", "id1", "id2"]
    r3 = Recorder(out)
    assert r3.recovered_rows == 0
    r3.close()
    assert pl.read_parquet(out)["id"].to_list() == ["id0", "id1", "id2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet"]


def test_two_recorders_cannot_share_a_file(tmp_path):
    out = tmp_path / "shared.parquet"
    r = Recorder(out)
    with pytest.raises(InputError, match="another finterm is recording"):
        Recorder(out)
    r.close()
    Recorder(out).close()  # free again once the first is closed
