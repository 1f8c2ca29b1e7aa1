"""The labels store: replace per (id, task), journal replay, torn lines, a real SIGKILL, export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import polars as pl
import pytest

from finterm.errors import InputError
from finterm.records import Scored, Tweet
from finterm.store.labels import (
    LabelStore,
    _to_json,
    correction_for,
    default_labels_path,
    export_labels,
    journal_path,
    margin,
    read_corrections,
)
from tests.conftest import REPO

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)


def scored(i: int, text: str = "$AAPL beats") -> Scored:
    tw = Tweet(id=str(i), created_at=T0, author="a", text=text, tickers=("AAPL",))
    return Scored(tw, "Bullish", 0.5, "Earnings", 0.4, sentiment_probs={"Bearish": 0.1, "Bullish": 0.5, "Neutral": 0.4},
                  topic_probs={"Earnings": 0.4, "IPO": 0.35, "Dividend": 0.25})


def test_correction_keeps_what_the_model_said():
    c = correction_for(scored(7), "sentiment", "Bearish", origin="monitor")
    assert (c.id, c.task, c.label, c.model_label, c.tickers) == ("7", "sentiment", "Bearish", "Bullish", "AAPL")
    assert c.margin == pytest.approx(0.1) and c.model_score == 0.5 and not c.agrees
    t = correction_for(scored(7), "topic", "Earnings")
    assert t.margin == pytest.approx(0.05) and t.agrees and t.time is not None


def test_margin_without_probabilities_reads_the_score_at_its_most_doubtful():
    assert margin({}, 0.9) == pytest.approx(0.8)
    assert margin({}, 0.4) == 0.0


def test_replace_per_tweet_and_task_and_the_parquet_has_it(tmp_path):
    path = tmp_path / "labels.parquet"
    store = LabelStore(path)
    store.put([correction_for(scored(1), "sentiment", "Bearish")])
    store.put([correction_for(scored(1), "topic", "IPO"), correction_for(scored(2), "sentiment", "Neutral")])
    store.put([correction_for(scored(1), "sentiment", "Neutral")])  # replaces the first
    assert store.labels_for("1") == {"sentiment": "Neutral", "topic": "IPO"}
    assert len(LabelStore(path)) == 3  # durable before any fold: read back through the journal
    store.close()
    df = pl.read_parquet(path)  # the parquet alone, journal folded in and emptied
    assert journal_path(path).stat().st_size == 0
    assert df.height == 3
    rows = {(r["id"], r["task"]): r for r in df.to_dicts()}
    assert rows[("1", "sentiment")]["label"] == "Neutral"
    assert rows[("1", "sentiment")]["model_label"] == "Bullish"
    assert rows[("1", "sentiment")]["text"] == "$AAPL beats"
    assert df.schema["time"] == pl.Datetime("us", "UTC")
    assert len(LabelStore(path)) == 3  # a new session reads them back


def test_journal_rows_left_by_a_kill_are_read_and_replayed_without_duplicates(tmp_path):
    path = tmp_path / "labels.parquet"
    store = LabelStore(path)
    store.put([correction_for(scored(1), "sentiment", "Bearish")])
    # killed after the journal append, before the parquet rewrite; and again after the rewrite,
    # before the journal was emptied (the same row in both)
    later = correction_for(scored(2), "topic", "IPO")
    again = correction_for(scored(1), "sentiment", "Bearish")
    journal_path(path).write_text(_to_json(again) + "\n" + _to_json(later) + "\n" + '{"id": "3", "task": "sent', encoding="utf-8")
    merged = read_corrections(path)
    assert sorted(merged) == [("1", "sentiment"), ("2", "topic")]  # the torn line is skipped
    reopened = LabelStore(path)
    reopened.put([correction_for(scored(4), "sentiment", "Neutral")])
    reopened.close()
    assert sorted(pl.read_parquet(path)["id"].to_list()) == ["1", "2", "4"]


def test_two_stores_on_one_file_keep_each_others_rows(tmp_path):
    path = tmp_path / "labels.parquet"
    monitor, review = LabelStore(path), LabelStore(path)
    monitor.put([correction_for(scored(1), "sentiment", "Bearish")])
    review.put([correction_for(scored(2), "sentiment", "Neutral")])
    monitor.put([correction_for(scored(3), "topic", "IPO")])
    assert len(monitor) == 3 and len(review) == 2  # review has not looked since its put
    review.close()
    assert sorted(pl.read_parquet(path)["id"].to_list()) == ["1", "2", "3"]
    monitor.put([correction_for(scored(4), "topic", "IPO")])  # after review folded the file
    monitor.close()
    assert sorted(pl.read_parquet(path)["id"].to_list()) == ["1", "2", "3", "4"]


def test_put_folds_the_journal_every_so_often_not_every_time(tmp_path, monkeypatch):
    """A put appends and fsyncs the journal; the parquet rewrite (cost grows with the file)
    happens every COMPACT_EVERY rows and at close, and the parquet is re-read only when it changed."""
    from finterm.store import labels as labels_mod

    path = tmp_path / "labels.parquet"
    store = LabelStore(path)
    reads = []
    real = labels_mod._read_parquet
    monkeypatch.setattr(labels_mod, "_read_parquet", lambda p: reads.append(p) or real(p))
    n = labels_mod.COMPACT_EVERY + 10
    for i in range(n):
        store.put([correction_for(scored(i), "sentiment", "Neutral")])
    assert len(store) == n
    assert pl.read_parquet(path).height == labels_mod.COMPACT_EVERY  # folded once, on the way
    assert len(journal_path(path).read_text().splitlines()) == 10
    assert len(reads) <= 2  # the first put (no file yet) and after the fold: not one per put
    assert len(read_corrections(path)) == n  # readers see every row meanwhile
    store.close()
    assert pl.read_parquet(path).height == n and journal_path(path).stat().st_size == 0


def test_bad_paths_say_so(tmp_path):
    with pytest.raises(InputError, match="parquet"):
        LabelStore(tmp_path / "labels.csv")
    (tmp_path / "d.parquet").mkdir()
    with pytest.raises(InputError, match="folder"):
        LabelStore(tmp_path / "d.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read"):
        LabelStore(tmp_path / "junk.parquet")


def test_default_path_is_under_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("FINTERM_LABELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_labels_path() == tmp_path / "finterm" / "labels.parquet"
    monkeypatch.setenv("FINTERM_LABELS", str(tmp_path / "x.parquet"))
    assert default_labels_path() == tmp_path / "x.parquet"


def test_export_is_what_finterm_train_reads(tmp_path):
    from finterm.training.data import SENTIMENT_LABELS, load_split

    path = tmp_path / "labels.parquet"
    store = LabelStore(path)
    store.put([correction_for(scored(1, "$TSLA &amp; falls"), "sentiment", "Bearish"),
               correction_for(scored(2), "sentiment", "Neutral"), correction_for(scored(2), "topic", "IPO")])
    for name in ("out.csv", "out.parquet"):
        assert export_labels(path, tmp_path / name, "sentiment") == 2
        split = load_split(tmp_path / name, SENTIMENT_LABELS)
        assert split.texts == ["$TSLA & falls", "$AAPL beats"]
        assert split.labels.tolist() == [0, 2]
    with pytest.raises(InputError):
        export_labels(path, tmp_path / "out.txt", "sentiment")


WRITER = textwrap.dedent("""
    import sys
    from finterm.store.labels import Correction, LabelStore
    store = LabelStore(sys.argv[1])
    i = 0
    while True:
        store.put([Correction(id=str(i % 40), task="sentiment", label=("Bearish", "Bullish", "Neutral")[i % 3],
                              text=f"tweet {i}")])
        print(i, flush=True)
        i += 1
""")


def test_every_acknowledged_correction_survives_sigkill(tmp_path):
    path = tmp_path / "labels.parquet"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, text=True)
    acked = -1
    try:
        for line in proc.stdout:
            acked = int(line)
            if acked >= 300:  # past the first fold into the parquet file (COMPACT_EVERY)
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert acked >= 300, "the writer never got going"
    merged = read_corrections(path)
    # every tweet id 0..39 was written, and each holds its last acknowledged label or a later one
    for tid in range(40):
        c = merged[(str(tid), "sentiment")]
        last_acked = max(i for i in range(acked + 1) if i % 40 == tid)
        assert int(c.text.split()[1]) >= last_acked
        assert c.label == ("Bearish", "Bullish", "Neutral")[int(c.text.split()[1]) % 3]
    pl.read_parquet(path)  # the parquet file alone is always whole
