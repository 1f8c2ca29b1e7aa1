"""The replay streams (issue 22): bounded read-ahead through the pipeline's queue, flat memory
whatever the file's size, `--skip N`, and partial files (a broken record after good rows:
the good rows are scored and written, then one line names the file and line, exit 1)."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from finterm.engine.classifier import Classifier
from finterm.errors import InputError
from finterm.pipeline.runner import Pipeline
from finterm.sources import replay
from finterm.sources.replay import BrokenRecord, ReplayFile, ReplaySource, read_rows

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def record(i: int, **extra) -> dict:
    return {"created_at": (T0 + timedelta(seconds=i)).isoformat(), "id": f"t{i}",
            "text": f"$AAPL stock up {i}" if i % 3 else f"$TSLA falls {i}", **extra}


def write_jsonl(path, n, start=0):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(start, start + n):
            f.write(json.dumps(record(i)) + "\n")
    return path


def write_csv(path, n):
    pl.DataFrame([record(i) for i in range(n)]).write_csv(path)
    return path


def write_parquet(path, n, group=500):
    pl.DataFrame([record(i) for i in range(n)]).write_parquet(path, row_group_size=group)
    return path


@pytest.fixture(scope="module")
def classifier(tiny_models):
    return Classifier(*tiny_models, engine="onnxruntime", batch_size=8)


class Collect:
    def __init__(self):
        self.ids, self.closed = [], False

    def __call__(self, batch):
        self.ids.extend(s.tweet.id for s in batch)

    def close(self):
        self.closed = True


# -- streaming -------------------------------------------------------------------------------
def test_a_file_larger_than_the_queue_is_read_only_as_scoring_takes_it(tmp_path, classifier):
    """While the scorer is held, the replay has handed over no more than the queue holds."""
    src = ReplaySource(write_jsonl(tmp_path / "big.jsonl", 3000), speed=None)
    gate, started = threading.Event(), threading.Event()

    class Held:
        def score(self, tweets):
            started.set()
            assert gate.wait(30)
            return classifier.score(tweets)

    sink = Collect()
    p = Pipeline(src, Held(), [sink], batch_size=8, max_wait_ms=0, queue_size=64, ui_batches=False)
    p.start()
    assert started.wait(30)
    end = time.monotonic() + 30
    while not p.backlog().full:
        assert time.monotonic() < end
        time.sleep(0.01)
    assert src.position <= 64 + 8 + 1  # the queue, the batch held, the row waiting to go in
    gate.set()
    assert p.join(timeout=60)
    assert sink.ids == [f"t{i}" for i in range(3000)] and sink.closed and src.position == 3000


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_memory_stays_flat_whatever_the_size(tmp_path, monkeypatch, fmt):
    """Reading every row of a 30,000-row file holds a few rows at a time, not the file."""
    monkeypatch.setattr(replay, "COUNT_MAX_BYTES", 0)  # no counting pass: the stream alone
    monkeypatch.setattr(replay, "PARQUET_CHUNK", 1000)
    n = 30_000
    path = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[fmt](tmp_path / f"big.{fmt}", n)
    f = ReplayFile(path)
    assert f.total == (n if fmt == "parquet" else None)  # parquet's footer has it; big text files: unknown
    tracemalloc.start()
    try:
        count = 0
        for row in f.rows():
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n and row.id == f"t{n - 1}"
    assert peak < 4_000_000, f"{peak:,} bytes traced while streaming"  # all rows as objects: > 20 MB


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_skip_starts_after_n_rows_with_the_same_ids(tmp_path, fmt):
    rows = [{"created_at": (T0 + timedelta(seconds=i)).isoformat(), "text": f"row {i}"} for i in range(50)]
    rows[20]["created_at"] = "later"  # played at the time of the row before it, skipped or not
    path = tmp_path / f"noid.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "csv":
        pl.DataFrame(rows).write_csv(path)
    else:
        pl.DataFrame(rows).write_parquet(path, row_group_size=7)
    whole = read_rows(path)
    for k in (0, 1, 20, 21, 49):
        assert read_rows(path, skip=k) == whole[k:]  # ids made from the row's place in the file
    src = ReplaySource(path, speed=None, skip=21)
    got = []
    src.run(got.append, lambda s: None, threading.Event())
    assert [t.id for t in got] == [r.id for r in whole[21:]] and src.resume_skip(len(got)) == 50
    with pytest.raises(InputError, match="--skip 50 skips every row"):
        ReplaySource(path, skip=50)


def test_garbled_lines_are_not_rows(tmp_path):
    """Rows are counted without the garbled lines a replay skips, so --skip lands on the same row."""
    p = tmp_path / "g.jsonl"
    p.write_text(json.dumps(record(0)) + "\n{oops\n[1]\n" + json.dumps(record(1)) + "\n" + json.dumps(record(2)) + "\n")
    warnings = []
    assert [r.id for r in ReplayFile(p, warnings.append).rows(skip=1)] == ["t1", "t2"]
    warnings.clear()
    assert [r.id for r in ReplayFile(p, warnings.append).rows(skip=2)] == ["t2"]
    assert warnings == []  # garbled lines among the rows skipped: said when those were played


# -- partial files -----------------------------------------------------------------------------
def cut_csv(tmp_path, n_good=40):
    p = write_csv(tmp_path / "cut.csv", n_good)
    with open(p, "a", encoding="utf-8") as f:
        f.write('2024-03-01T01:00:00+00:00,t999,"an unclosed quote that runs to the end\nand, more\n')
    return p


def test_a_csv_with_an_unclosed_quote_plays_its_good_rows_then_names_the_line(tmp_path):
    p = cut_csv(tmp_path)
    src = ReplaySource(p, speed=None)
    assert src.total == 40  # counted up to the broken record
    got = []
    with pytest.raises(BrokenRecord) as e:
        src.run(got.append, lambda s: None, threading.Event())
    assert [t.id for t in got] == [f"t{i}" for i in range(40)]
    assert e.value.message == f"{p}: line 42: unclosed quote: the file ends inside a quoted field"
    assert e.value.exit_code == 1


@pytest.mark.parametrize("tail, words", [
    ('{"created_at": "2024-03-01T01:00:00Z", "id": "t999", "te', "line 31: the file ends inside a record (cut short?)"),
    ('{"created_at": "2024-03-01T01:00:00Z", "id": "t999", "text": {"a": 1}}\n', "line 31: text is an object, not text"),
    ('{"created_at": "2024-03-01T01:00:00Z", "id": ["t", 9], "text": "x"}\n' + json.dumps(record(99)) + "\n",
     "line 31: id is a list, not text"),
])
def test_a_broken_jsonl_record_ends_the_replay_after_the_good_rows(tmp_path, tail, words):
    p = write_jsonl(tmp_path / "cut.jsonl", 30)
    with open(p, "a", encoding="utf-8") as f:
        f.write(tail)
    got = []
    with pytest.raises(BrokenRecord) as e:
        ReplaySource(p, speed=None).run(got.append, lambda s: None, threading.Event())
    assert [t.id for t in got] == [f"t{i}" for i in range(30)]
    assert e.value.message == f"{p}: {words}" and "\n" not in e.value.message


def test_a_csv_row_with_too_many_fields_is_a_broken_record(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("created_at,text\n2024-01-01T00:00:00Z,fine\n2024-01-01T00:00:01Z,one, two\n")
    with pytest.raises(BrokenRecord, match="line 3: 3 fields where the header has 2"):
        read_rows(p)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_the_command_scores_the_good_rows_then_names_file_and_line_and_exits_1(finterm, model_args, tmp_path, kind):
    if kind == "csv":
        p, line, good = cut_csv(tmp_path), 42, 40
    else:
        p, line, good = write_jsonl(tmp_path / "cut.jsonl", 30), 31, 30
        with open(p, "a", encoding="utf-8") as f:
            f.write('{"created_at": "2024-03-01T01:00:00Z", "te')
    r = finterm("--replay", p, "--speed", "max", "--headless", *model_args)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert [json.loads(x)["id"] for x in r.stdout.decode().splitlines()] == [f"t{i}" for i in range(good)]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"finterm: {p}: line {line}: ") and "Traceback" not in err
    assert f"finterm: {good:,} tweets in" in err


@pytest.mark.slow
def test_a_broken_record_in_a_recorded_run_still_closes_the_recording(finterm, model_args, tmp_path):
    p = cut_csv(tmp_path)
    rec = tmp_path / "rec.parquet"
    r = finterm("--replay", p, "--speed", "max", "--headless", "--record", rec, *model_args)
    assert r.returncode == 1
    assert pl.read_parquet(rec)["id"].to_list() == [f"t{i}" for i in range(40)]
