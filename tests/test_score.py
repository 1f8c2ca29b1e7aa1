"""`finterm score`: archives into parquet parts, the headless labels, resume after a kill,
rejects that add up, broken files, and the same job on a local Ray."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import polars as pl
import pytest

from finterm.archive.inputs import BrokenRecord, Columns, InputFile, iter_chunks, plan_chunks, read_chunk
from finterm.archive.scoring import OUTPUT_COLUMNS, tweet_fields
from finterm.records import make_tweet
from finterm.sources.replay import read_rows
from tests.conftest import STOCKNET_JSONL, popen_finterm
from tests.modelkit import make_sentiment_folder

pytestmark = pytest.mark.slow


def run_score(finterm, *args, timeout: float = 300):
    r = finterm("score", *args, timeout=timeout)
    err = r.stderr.decode()
    assert "Traceback" not in err, err
    return r, err


def parts(out: Path) -> pl.DataFrame:
    """Every part in name order (parts of different input files may have different columns)."""
    return pl.concat([pl.read_parquet(p) for p in sorted(out.glob("*.parquet"))], how="diagonal_relaxed")


def manifest_chunks(out: Path) -> list[dict]:
    lines = (out / "_manifest.jsonl").read_text().splitlines()[1:]
    return [json.loads(x) for x in lines if x.strip()]


def headless(finterm, path, *args) -> list[dict]:
    r = finterm("--replay", path, "--speed", "max", "--headless", *args, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(x) for x in r.stdout.decode().splitlines()]


@pytest.fixture(scope="module")
def big_parquet(tmp_path_factory) -> Path:
    """30,063 rows: the replay file eleven times over, each copy with its own ids."""
    df = pl.read_ndjson(STOCKNET_JSONL)
    big = pl.concat([df.with_columns((pl.col("id") + f"-{k}").alias("id")) for k in range(11)])
    path = tmp_path_factory.mktemp("archive") / "big.parquet"
    big.write_parquet(path)
    return path


def test_text_rules_are_make_tweets():
    rows = read_rows(STOCKNET_JSONL)
    for r in rows:
        t = make_tweet(r.id, r.created_at, r.user, r.text, tickers=r.symbols)
        assert tweet_fields(r.text, r.symbols) == (t.text, t.tickers)


def test_schema_and_labels_equal_the_headless_replay(finterm, tmp_path):
    """The shipped models, on ONNX Runtime (one engine for every batch, so nothing depends on timing)."""
    small = tmp_path / "small.jsonl"
    small.write_text("".join(STOCKNET_JSONL.read_text(encoding="utf-8").splitlines(keepends=True)[:160]), encoding="utf-8")
    want = headless(finterm, small, "--engine", "onnxruntime")
    out = tmp_path / "out"
    r, err = run_score(finterm, small, "-o", out, "--engine", "onnxruntime", "--probs", "--chunk-rows", "64")
    assert r.returncode == 0, err
    got = parts(out)
    inputs = ["id", "created_at", "user", "text", "symbols", "query_tickers", "is_retweet", "lang"]
    assert got.columns == [*inputs, *OUTPUT_COLUMNS, "sentiment_probs", "topic_probs"]
    assert got.schema["tickers"] == pl.List(pl.String) and got.schema["sentiment_score"] == pl.Float32
    assert got.schema["symbols"] == pl.List(pl.String) and got.schema["is_retweet"] == pl.Boolean
    assert got["id"].to_list() == [w["id"] for w in want]
    assert got["sentiment"].to_list() == [w["sentiment"] for w in want]
    assert got["topic"].to_list() == [w["topic"] for w in want]
    assert got["tickers"].to_list() == [w["tickers"] for w in want]
    for task in ("sentiment", "topic"):
        assert max(abs(a - w[f"{task}_score"]) for a, w in zip(got[f"{task}_score"].to_list(), want)) < 1e-4
        probs = got[f"{task}_probs"].struct.unnest()
        assert abs(probs.sum_horizontal() - 1.0).max() < 1e-4
        assert [probs.columns[i] for i in probs.to_numpy().argmax(axis=1)] == got[task].to_list()
    assert len(list(out.glob("*.parquet"))) == 3  # 160 rows in chunks of 64
    assert (out / "_rejects.jsonl").read_text() == ""
    assert "scored 160 rows and rejected 0 of 160 read" in err and "tickers: MSFT" in err


def test_killed_run_resumes_with_every_row_once(tmp_path, cli_env, model_args, big_parquet, finterm):
    out = tmp_path / "out"
    args = ["score", big_parquet, "-o", out, "--chunk-rows", "200", *model_args]
    proc = popen_finterm(args, tmp_path, cli_env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "_manifest.jsonl").exists() and len(manifest_chunks(out)) >= 3:
                break
            time.sleep(0.02)
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = len(manifest_chunks(out))
    assert 3 <= finished < 151, f"the kill should land mid-run ({finished} of 151 chunks were done)"

    r, err = run_score(finterm, *args[1:])
    assert r.returncode == 0, err
    assert f"{finished:,} done before" in err and "30,063 rows read: 30,063 scored + 0 rejected" in err
    got = parts(out)
    want = pl.read_parquet(big_parquet)
    assert got.height == want.height and got["id"].n_unique() == want.height
    assert got["id"].to_list() == want["id"].to_list()  # parts in order give the file's order
    chunks = [(c["file"], c["chunk"]) for c in manifest_chunks(out)]
    assert len(chunks) == len(set(chunks)) == 151
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]

    clean = tmp_path / "clean"
    r, err = run_score(finterm, big_parquet, "-o", clean, "--chunk-rows", "200", *model_args)
    assert r.returncode == 0, err
    assert parts(clean).select("id", "sentiment", "topic").equals(got.select("id", "sentiment", "topic"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_after_at_most_the_part_in_flight(tmp_path, cli_env, model_args, big_parquet, finterm, sig):
    out = tmp_path / "out"
    args = ["score", big_parquet, "-o", out, "--chunk-rows", "200", *model_args]
    proc = popen_finterm(args, tmp_path, cli_env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "_manifest.jsonl").exists() and len(manifest_chunks(out)) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    err = stderr.decode()
    assert "Traceback" not in err, err
    assert proc.returncode == 128 + sig, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "run the same command again" in err
    done = manifest_chunks(out)
    assert sum(c["read"] for c in done) == parts(out).height  # every listed part is whole, nothing else is there
    r, err = run_score(finterm, *args[1:])
    assert r.returncode == 0, err
    assert parts(out)["id"].to_list() == pl.read_parquet(big_parquet)["id"].to_list()


def test_rejects_have_reasons_and_the_counts_add_up(finterm, model_args, tmp_path):
    good = {"created_at": "2024-01-02T10:00:00Z", "text": "$AAPL rally, buy"}
    lines = [
        json.dumps({**good, "id": "1"}),
        json.dumps({**good, "id": "2", "text": None}),
        json.dumps({**good, "id": "3", "text": "   "}),
        json.dumps({**good, "id": "4", "text": 42}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "7", "text": "$TSLA falls"}),
        json.dumps({**good, "id": "8", "created_at": "yesterday"}),
        "",
        json.dumps({**good, "id": "9", "symbols": ["msft"]}),
    ]
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join(lines) + "\n")
    csv = tmp_path / "more.csv"
    csv.write_text('created_at,id,text\n2024-01-02T10:00:00Z,c1,"$NVDA earnings beat"\n2024-01-02T10:00:01Z,c2,\n')
    out = tmp_path / "out"
    r, err = run_score(finterm, src, csv, "-o", out, *model_args)
    assert r.returncode == 0, err
    got = parts(out)
    assert sorted(got["id"].to_list()) == ["1", "9", "c1"]
    assert got.filter(pl.col("id") == "9")["tickers"].to_list() == [["MSFT"]]
    rejects = [json.loads(x) for x in (out / "_rejects.jsonl").read_text().splitlines()]
    by_row = {(Path(r["file"]).name, r["row"]): r for r in rejects}
    assert {k: v["reason"] for k, v in by_row.items()} == {
        ("mixed.jsonl", 2): "no text",
        ("mixed.jsonl", 3): "empty text",
        ("mixed.jsonl", 4): "text is a number, not a string",
        ("mixed.jsonl", 5): "not valid JSON",
        ("mixed.jsonl", 6): "not a JSON object",
        ("mixed.jsonl", 7): "no created_at",
        ("mixed.jsonl", 8): "created_at 'yesterday' is not a timestamp",
        ("more.csv", 2): "no text",
    }
    assert by_row[("mixed.jsonl", 5)]["line"] == 5 and by_row[("mixed.jsonl", 4)]["id"] == "4"
    assert by_row[("mixed.jsonl", 8)]["text"] == "$AAPL rally, buy"
    assert "scored 3 rows and rejected 8 of 11 read" in err and "11 rows read: 3 scored + 8 rejected" in err


def test_a_broken_csv_scores_its_good_rows_names_the_line_and_exits_1(finterm, model_args, tmp_path):
    body = "".join(f"2024-01-02T10:00:{i:02d}Z,{i},$AAPL up {i}\n" for i in range(40))
    src = tmp_path / "cut.csv"
    src.write_text("created_at,id,text\n" + body + '2024-01-02T10:01:00Z,40,"never closed\n')
    out = tmp_path / "out"
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "16", *model_args)
    assert r.returncode == 1, err
    assert parts(out)["id"].to_list() == [str(i) for i in range(40)]
    assert f"{src}: line 42: " in err and "40 rows before it were scored" in err
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "16", *model_args)  # the rerun says it again
    assert r.returncode == 1 and "line 42" in err and "3 done before" in err


def test_column_mapping_and_missing_columns(finterm, model_args, tmp_path):
    src = tmp_path / "other.parquet"
    pl.DataFrame({"tweet_id": [7, 8], "ts": [1704189600, 1704189601], "body": ["$AMD soars", "$AMD plunges, sell"]}).write_parquet(src)
    out = tmp_path / "out"
    r, err = run_score(finterm, src, "-o", out, *model_args)
    assert r.returncode == 2 and "no column 'text' (--text-col names it; the file has: tweet_id, ts, body)" in err
    r, err = run_score(finterm, src, "-o", out, "--text-col", "body", "--time-col", "ts", "--id-col", "tweet_id", *model_args)
    assert r.returncode == 0, err
    got = parts(out)
    assert got.columns == ["tweet_id", "ts", "body", *OUTPUT_COLUMNS]
    assert got["tweet_id"].to_list() == [7, 8] and got["sentiment"].to_list() == ["Bullish", "Bearish"]
    r, err = run_score(finterm, src, "-o", out, "--text-col", "body", "--time-col", "ts", "--id-col", "tweet_id",
                       "--chunk-rows", "5", *model_args)
    assert r.returncode == 2 and "other settings (chunk_rows 4096 there, 5 now)" in err
    r, err = run_score(finterm, src, "-o", tmp_path / "o2", "--text-col", "body", "--workers", "2", *model_args)
    assert r.returncode == 2 and "--workers goes with --ray" in err


def test_a_changed_input_is_scored_again_and_other_models_are_refused(finterm, model_args, tmp_path, tiny_models):
    src = tmp_path / "a.jsonl"
    row = {"created_at": "2024-01-01T00:00:00Z", "text": "$SPY up"}
    src.write_text("".join(json.dumps({**row, "id": f"r{i}"}) + "\n" for i in range(5)))
    out = tmp_path / "out"
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "2", *model_args)
    assert r.returncode == 0 and "5 rows read" in err
    with src.open("a") as fh:
        fh.write(json.dumps({**row, "id": "r5"}) + "\n")
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "2", *model_args)
    assert r.returncode == 0, err
    assert "changed since 3 of its parts were written: scoring it again" in err and "0 done before" in err
    assert parts(out)["id"].to_list() == [f"r{i}" for i in range(6)]
    copy = make_sentiment_folder(tmp_path / "copy-of-sentiment")  # the same model file in another folder
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "2", "--sentiment-model", copy,
                       "--topic-model", tiny_models[1], "--engine", "onnxruntime")
    assert r.returncode == 0 and "3 done before" in err, err
    r, err = run_score(finterm, src, "-o", out, "--chunk-rows", "2", "--sentiment-model", tiny_models[1],
                       "--topic-model", tiny_models[1], "--engine", "onnxruntime")  # another model file as sentiment
    assert r.returncode == 2 and "scored by other models" in err


def test_folders_and_globs(finterm, model_args, tmp_path):
    data = tmp_path / "data"
    (data / "2024").mkdir(parents=True)
    for i, sub in enumerate(["", "2024"]):
        (data / sub / f"p{i}.jsonl").write_text(json.dumps({"created_at": "2024-01-01T00:00:00Z", "id": f"x{i}", "text": "$SPY up"}) + "\n")
    (data / "notes.txt").write_text("not an input")
    r, err = run_score(finterm, data, "-o", data / "out", *model_args)  # the output inside an input folder is skipped
    assert r.returncode == 0, err
    assert sorted(parts(data / "out")["id"].to_list()) == ["x0", "x1"]
    r, err = run_score(finterm, str(data / "**" / "*.jsonl"), "-o", tmp_path / "out2", *model_args)
    assert r.returncode == 0 and "scored 2 rows" in err
    r, err = run_score(finterm, data / "notes.txt", "-o", tmp_path / "out3", *model_args)
    assert r.returncode == 2 and "unknown file type '.txt'" in err


def test_chunks_are_the_same_rows_whatever_is_skipped(tmp_path):
    src = tmp_path / "x.jsonl"
    src.write_text("".join(json.dumps({"created_at": "2024-01-01T00:00:00Z", "text": f"t{i}"}) + "\n" for i in range(25)))
    f = InputFile.at(src)
    every = {c.index: c.frame["text"].to_list() for c in iter_chunks(f, 10, Columns())}
    assert [len(v) for v in every.values()] == [10, 10, 5]
    some = {c.index: c.frame["text"].to_list() for c in iter_chunks(f, 10, Columns(), skip={0, 2})}
    assert some == {1: every[1]}


def _tricky_files(d: Path) -> list[Path]:
    """A CSV with a BOM, CRLF, quoted newlines and doubled quotes and a blank line; a JSONL with a
    BOM, blank and broken lines and a U+2028 in a string; a parquet of several row groups; a CSV
    whose last quote never closes."""
    rows = ["\ufeffcreated_at,id,text"]
    for i in range(23):
        rows.append(f"2024-01-01T00:00:{i:02d}Z,{i}," + (f'"multi\nline ""{i}"" $AAPL"' if i % 5 == 0 else f"plain {i}"))
        if i == 7:
            rows.append("")
    (d / "x.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    lines = []
    for i in range(23):
        lines.append(json.dumps({"created_at": "2024-01-01T00:00:00Z", "id": i, "text": f"t{i} \u2028 x",
                                 "symbols": ["A"] if i % 2 else None}, ensure_ascii=False))
        lines += [""] if i == 4 else ["{bad"] if i == 9 else []
    (d / "x.jsonl").write_bytes(("\ufeff" + "\n".join(lines)).encode())
    pl.DataFrame({"created_at": ["2024-01-01T00:00:00Z"] * 23, "text": [f"p{i}" for i in range(23)]}).write_parquet(
        d / "x.parquet", row_group_size=7)
    (d / "cut.csv").write_text("created_at,id,text\n" + "".join(f"2024-01-01T00:00:00Z,{i},t{i}\n" for i in range(12))
                               + '2024-01-01T00:00:00Z,12,"open\n')
    return [d / "x.csv", d / "x.jsonl", d / "x.parquet", d / "cut.csv"]


def test_a_chunk_read_on_its_own_is_the_chunk_read_in_order(tmp_path):
    """Ray's read tasks read chunk k alone (plan_chunks, read_chunk); the one-machine scorer reads
    the file in order (iter_chunks): the same rows, numbered the same, the same problem."""
    for path in _tricky_files(tmp_path):
        f = InputFile.at(path)
        in_order, problems = [], []
        try:
            for chunk in iter_chunks(f, 5, Columns()):
                in_order.append(chunk)  # noqa: PERF402 - a generator that raises after its chunks
        except BrokenRecord as exc:
            problems.append(exc.message)
        plan = plan_chunks(f, 5)
        alone, problems_alone = [], []
        for ref in plan.chunks:
            chunk, problem = read_chunk(plan, ref, Columns())
            alone += [chunk] if chunk.read else []
            problems_alone += [problem] if problem else []
        assert [c.index for c in in_order] == [c.index for c in alone], path.name
        assert all(a.frame.equals(b.frame) for a, b in zip(in_order, alone)), path.name
        assert problems == problems_alone, path.name
    assert problems == [f"{tmp_path / 'cut.csv'}: line 14: unexpected end of data; the 12 rows before it were scored"]


def test_help_says_when_ray_pays(finterm):
    r = finterm("score", "--help")
    out = r.stdout.decode()
    assert r.returncode == 0 and "--ray" in out and "When is --ray worth it?" in out and "cluster" in out


def _ray_missing() -> str | None:
    from finterm.archive.ray_job import ray_unavailable_reason

    return ray_unavailable_reason()


@pytest.mark.skipif(_ray_missing() is not None, reason="the ray extra is not installed (pip install -e \".[ray]\")")
def test_ray_local_gives_the_same_rows_and_labels(finterm, model_args, tmp_path, cli_env):
    src = tmp_path / "tiny.jsonl"
    src.write_text("".join(STOCKNET_JSONL.read_text(encoding="utf-8").splitlines(keepends=True)[:64]), encoding="utf-8")
    local = tmp_path / "local"
    r, err = run_score(finterm, src, "-o", local, "--chunk-rows", "16", *model_args)
    assert r.returncode == 0, err
    env = {**cli_env, "RAY_AUTH_MODE": "disabled"}
    out = tmp_path / "ray"
    r = finterm("score", src, "-o", out, "--chunk-rows", "16", "--ray", "--workers", "2", *model_args, env=env, timeout=300)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "on a local Ray: 2 workers x 1 thread" in err and "64 rows read: 64 scored + 0 rejected, in 4 chunks" in err
    assert parts(out).equals(parts(local))
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(p.name for p in local.glob("*.parquet"))
    assert sorted(c["chunk"] for c in manifest_chunks(out)) == [0, 1, 2, 3]
