"""The real `finterm` command end to end: headless JSONL, recording, signals, bad input."""

from __future__ import annotations

import json
import signal
import time

import polars as pl
import pytest

from finterm.engine.deepsparse_import import deepsparse_unavailable_reason
from tests.conftest import STOCKNET_CSV, STOCKNET_JSONL, popen_finterm

NO_DS = deepsparse_unavailable_reason()

pytestmark = pytest.mark.slow
KEYS = ["id", "created_at", "author", "text", "tickers", "sentiment", "sentiment_score", "topic", "topic_score",
        "source", "url", "crowd_sentiment"]


def lines(stdout: bytes) -> list[dict]:
    return [json.loads(x) for x in stdout.decode("utf-8").splitlines()]


def clean(r) -> str:
    err = r.stderr.decode()
    assert "Traceback" not in err, err
    return err


def test_replay_csv_scores_every_row_in_order(finterm, model_args):
    r = finterm("--replay", STOCKNET_CSV, "--speed", "max", "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 0, err
    out = lines(r.stdout)
    want = pl.read_csv(STOCKNET_CSV, infer_schema=False)
    assert [o["id"] for o in out] == want["id"].to_list()
    assert all(list(o) == KEYS for o in out)
    assert out[0]["tickers"] == ["FB"] and out[0]["created_at"] == "2014-09-30T21:55:00Z"
    assert {o["sentiment"] for o in out} <= {"Bearish", "Bullish", "Neutral"}
    assert all(0.0 <= o["sentiment_score"] <= 1.0 and 0.0 <= o["topic_score"] <= 1.0 for o in out)
    summary = err.strip().splitlines()[-1]
    assert "2,733 tweets" in summary and "tweets/s" in summary and "onnxruntime" in summary and "p99" in summary


def test_replay_jsonl_and_small_batches_give_the_same_lines(finterm, model_args):
    a = finterm("--replay", STOCKNET_JSONL, "--speed", "max", "--headless", "--batch-size", "3", "--max-wait-ms", "0", *model_args)
    b = finterm("--replay", STOCKNET_CSV, "--speed", "max", "--headless", "--batch-size", "64", *model_args)
    assert a.returncode == b.returncode == 0
    assert lines(a.stdout) == lines(b.stdout)


def test_demo_headless_is_seeded(finterm, model_args):
    a = finterm("--demo", "--seed", "21", "--limit", "120", "--speed", "max", "--headless", *model_args)
    b = finterm("--demo", "--seed", "21", "--limit", "120", "--speed", "max", "--headless", *model_args)
    assert a.returncode == 0, clean(a)
    la, lb = lines(a.stdout), lines(b.stdout)
    assert len(la) == 120 and [x["text"] for x in la] == [x["text"] for x in lb]
    assert len({x["id"] for x in la}) == 120 and sum(bool(x["tickers"]) for x in la) > 90


def test_hostile_text_passes_through_json_unharmed(finterm, model_args, tmp_path):
    texts = ["[bold red]$GME[/] to the moon [link=http://x]click[/link]", "\x1b[2J\x1b[31mred $AMC\x1b[0m",
             'quotes " and \\ backslash \u2028 and emoji 🚀 $TSLA', "<script>&lt;b&gt;</script> $SPY"]
    p = tmp_path / "hostile.jsonl"
    p.write_text("\n".join(json.dumps({"created_at": f"2024-01-01T00:00:0{i}Z", "id": str(i), "text": t})
                           for i, t in enumerate(texts)) + "\n")
    r = finterm("--replay", p, "--speed", "max", "--headless", *model_args)
    assert r.returncode == 0, clean(r)
    assert b"\x1b" not in r.stdout
    out = lines(r.stdout)
    assert out[0]["text"] == texts[0]  # markup stays literal text
    assert out[1]["text"] == texts[1].replace("\x1b", " ") and out[1]["tickers"] == ["AMC"]
    assert out[2]["text"] == texts[2]
    assert out[3]["text"] == "<script><b></script> $SPY"


def test_garbled_jsonl_line_warns_and_scores_the_rest(finterm, model_args, tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text('{"created_at": "2024-01-01T00:00:00Z", "text": "$AAPL up"}\n{oops\n'
                 '{"created_at": "2024-01-01T00:00:02Z", "text": "$AAPL down"}\n')
    r = finterm("--replay", p, "--speed", "max", "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 0 and "line 2" in err and "skipped" in err
    assert [o["text"] for o in lines(r.stdout)] == ["$AAPL up", "$AAPL down"]


def test_record_then_replay_the_recording(finterm, model_args, tmp_path):
    rec = tmp_path / "rec.parquet"
    first = finterm("--replay", STOCKNET_CSV, "--speed", "max", "--headless", "--record", rec, *model_args)
    assert first.returncode == 0, clean(first)
    again = finterm("--demo", "--seed", "2", "--limit", "50", "--speed", "max", "--headless", "--record", rec, *model_args)
    assert again.returncode == 0, clean(again)
    df = pl.read_parquet(rec)
    assert df.height == 2733 + 50
    replay = finterm("--replay", rec, "--speed", "max", "--headless", *model_args)
    assert replay.returncode == 0, clean(replay)
    out = lines(replay.stdout)
    assert [o["id"] for o in out] == [o["id"] for o in lines(first.stdout)] + [o["id"] for o in lines(again.stdout)]
    assert [o["text"] for o in out[:2733]] == [o["text"] for o in lines(first.stdout)]


def test_broken_pipe_ends_quietly(tmp_path, cli_env, model_args):
    proc = popen_finterm(["--demo", "--speed", "max", "--headless", *model_args], tmp_path, cli_env)
    got = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()  # like `| head -3`
    rc = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert all(json.loads(g) for g in got)
    assert rc == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_the_run_with_a_summary(tmp_path, cli_env, model_args, sig):
    rec = tmp_path / "sig.parquet"
    proc = popen_finterm(["--demo", "--rate", "40", "--headless", "--record", rec, *model_args], tmp_path, cli_env)
    first = proc.stdout.readline()
    assert json.loads(first)
    time.sleep(0.3)
    proc.send_signal(sig)
    rest = proc.stdout.read()  # the same buffered reader as readline (communicate would skip its buffer)
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    out = [json.loads(first)] + lines(rest)
    assert proc.returncode == 128 + sig, err  # 130 / 143, as shells expect (issue 22)
    summary, stopped = err.strip().splitlines()[-2:]
    assert "Traceback" not in err and "tweets/s" in summary
    assert stopped.startswith(f"finterm: stopped by {signal.Signals(sig).name} · {len(out):,} scored, the last id {out[-1]['id']}")
    assert pl.read_parquet(rec)["id"].to_list() == [o["id"] for o in out]  # all printed were recorded


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.csv", "no such file"),
    (lambda d: (d / "t.xlsx").write_text("x") and d / "t.xlsx", "unknown file type '.xlsx'"),
    (lambda d: (d / "c.csv").write_text("when,body\n1,2\n") and d / "c.csv", "missing column created_at, text"),
    (lambda d: (d / "e.csv").write_text("") is not None and d / "e.csv", "empty"),
    (lambda d: (d / "h.jsonl").write_text("") is not None and d / "h.jsonl", "no rows"),
    (lambda d: (d / "b.csv").write_text("created_at,text\nlater,hi\n") and d / "b.csv", "not a timestamp"),
])
def test_bad_replay_input_exits_2(finterm, model_args, tmp_path, make, words):
    r = finterm("--replay", make(tmp_path), "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 2 and err.startswith("finterm: ") and words in err, err
    assert r.stdout == b""


def test_model_folder_without_model_onnx_exits_3(finterm, tiny_models, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_models[0], broken)
    (broken / "model.onnx").unlink()
    r = finterm("--demo", "--limit", "3", "--headless", "--sentiment-model", broken, "--topic-model", tiny_models[1])
    err = clean(r)
    assert r.returncode == 3 and "model.onnx" in err and err.startswith("finterm: ")
    no_config = tmp_path / "noconfig"
    shutil.copytree(tiny_models[1], no_config)
    (no_config / "config.json").unlink()
    r = finterm("--demo", "--limit", "3", "--headless", "--sentiment-model", tiny_models[0], "--topic-model", no_config)
    assert r.returncode == 3 and "config.json" in clean(r)


def test_no_model_installed_says_how_to_get_one(finterm, tmp_path):
    r = finterm("--demo", "--headless", "--sentiment-model", tmp_path / "nothing-here", "--engine", "onnxruntime")
    err = clean(r)
    assert r.returncode == 3 and "no sentiment model is installed" in err and "finterm-train" in err


def test_no_credentials_says_how_to_get_going(finterm, model_args):
    r = finterm("--source", "x", "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 2 and err.count("\n") == 1
    assert "no X credentials" in err and "finterm --demo" in err and "finterm --replay FILE" in err


@pytest.mark.parametrize("args, words", [
    (["--demo", "--speed", "fast"], "--speed"),
    (["--demo", "--batch-size", "0"], "--batch-size"),
    (["--replay", "x.csv", "--demo"], "not allowed"),
    (["--record", "out.csv", "--demo", "--limit", "1"], ".parquet"),
    (["--replay", "x.csv", "--seed", "5"], "go with --demo, not --replay"),
    (["--source", "bluesky", "--demo"], "--source goes alone"),
    (["--source", "bluesky,demo"], "only live sources merge"),
    (["--source", "mastodon"], "unknown source 'mastodon'"),
    (["--source", "replay"], "--replay FILE"),
    (["--source", "stocktwits", "--speed", "2"], "--speed goes with --replay or --demo"),
    (["--speed", "10"], "--speed goes with --replay or --demo"),
])
def test_bad_flags_exit_2(finterm, model_args, args, words):
    r = finterm(*args, "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 2 and words in err, err


def test_rows_without_a_usable_time_are_played_with_a_warning(finterm, model_args, tmp_path):
    src = tmp_path / "gaps.jsonl"
    src.write_text('{"created_at": "2024-01-01T00:00:00Z", "text": "$AAPL up", "id": "1"}\n'
                   '{"text": "$TSLA no time at all", "id": "2"}\n'
                   '{"created_at": "soon", "text": "$MSFT odd time", "id": "3"}\n'
                   '{"created_at": "2024-01-01T00:00:02Z", "text": "$NVDA down", "id": "4"}\n')
    r = finterm("--replay", src, "--speed", "max", "--headless", *model_args)
    err = clean(r)
    assert r.returncode == 0, err
    out = lines(r.stdout)
    assert [o["id"] for o in out] == ["1", "2", "3", "4"]
    assert out[1]["created_at"] == out[2]["created_at"] == "2024-01-01T00:00:00Z"
    assert "line 2: no created_at; played at the time of the row before it" in err
    assert "line 3: created_at 'soon' is not a timestamp" in err


@pytest.mark.skipif(bool(NO_DS), reason=str(NO_DS))
def test_batch_scoring_on_deepsparse_scores_every_row_in_order(finterm, tiny_models):
    sent, topic = tiny_models
    r = finterm("--replay", STOCKNET_JSONL, "--speed", "max", "--headless", "--engine", "deepsparse",
                "--sentiment-model", sent, "--topic-model", topic, timeout=300)
    err = clean(r)
    assert r.returncode == 0, err[-2000:]
    ref = finterm("--replay", STOCKNET_JSONL, "--speed", "max", "--headless", "--engine", "onnxruntime",
                  "--sentiment-model", sent, "--topic-model", topic)
    a, b = lines(r.stdout), lines(ref.stdout)
    assert [o["id"] for o in a] == [o["id"] for o in b] and len(a) == 2733
    assert sum(x["topic"] == y["topic"] for x, y in zip(a, b)) >= 0.99 * len(a)
    assert "engine deepsparse" in err.strip().splitlines()[-1]
