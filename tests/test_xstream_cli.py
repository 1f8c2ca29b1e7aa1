"""`finterm --headless --record` live against the local X API server, end to end.

The real command, the real pipeline and tiny real models; the X source reaches the server
through $FINTERM_X_API_BASE with $X_BEARER_TOKEN, through a dropped connection, a garbled
line and tweets resent after the reconnect. Every tweet must come out exactly once, on
stdout and in the recording, and the token nowhere.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import polars as pl
import pytest

from tests.conftest import popen_finterm
from tests.xserver import Stream, XServer, drop, garbled, hold, tweet

pytestmark = pytest.mark.slow
TOKEN = "AAAAAAAAAAAAAAAAAAAAA-e2e-s3cr3t-t0k3n"


def read_lines(stream, out: list) -> None:
    for raw in iter(stream.readline, b""):
        out.append(raw)


def run_live(args, cwd, env, lines: int, linger: float):
    """Run finterm until `lines` lines are out (or 120 s), `linger` seconds more, then SIGTERM it."""
    proc = popen_finterm(args, cwd, env)
    got: list[bytes] = []
    threading.Thread(target=read_lines, args=(proc.stdout, got), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while len(got) < lines and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(linger)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, got, proc.stderr.read().decode()


def test_headless_live_stream_scores_and_records_every_tweet_once(tmp_path, cli_env, model_args):
    script = [
        Stream([tweet(1), tweet(2), garbled(), tweet(3), drop()]),
        Stream([tweet(2), tweet(3), tweet(4), tweet(5), hold()]),  # 2 and 3 resent
    ]
    with XServer(token=TOKEN, stream_script=script) as server:
        for i, text in enumerate(["$AAPL beats earnings, shares up", "$TSLA falls on delivery miss",
                                  "Fed meeting today $AAPL", "$TSLA rally", "$AAPL $TSLA both down"], 1):
            server.publish(i, text, username=f"user{i}")
        config = tmp_path / "config.yaml"
        config.write_text("watchlist: [AAPL, TSLA]\n")
        record = tmp_path / "live.parquet"
        env = dict(cli_env, X_BEARER_TOKEN=TOKEN, FINTERM_X_API_BASE=server.base_url)
        # a sixth line, if there were one, would show up within the linger
        proc, got, err = run_live(["--headless", "--config", config, "--record", record, *model_args],
                                  tmp_path, env, lines=5, linger=0.2)

    assert proc.returncode == 143, err  # ended by run_live's SIGTERM, as shells expect (issue 22)
    assert "Traceback" not in err
    out = [json.loads(x) for x in got]
    assert [o["id"] for o in out] == ["1", "2", "3", "4", "5"]
    assert out[0]["author"] == "user1" and out[0]["tickers"] == ["AAPL"]
    assert out[4]["tickers"] == ["AAPL", "TSLA"]
    assert out[0]["created_at"] == "2026-11-25T10:00:00Z"
    assert "finterm: 5 tweets in" in err
    assert err.strip().splitlines()[-1] == "finterm: stopped by SIGTERM · 5 scored, the last id 5"
    assert err.count("finterm: reconnecting") == 1  # the dropped connection, said once on stderr

    rec = pl.read_parquet(record)
    assert rec["id"].to_list() == ["1", "2", "3", "4", "5"]

    log_text = (tmp_path / "finterm.log").read_text()
    for where in (err, b"".join(got).decode(), log_text, record.read_bytes().decode("latin-1")):
        assert TOKEN not in where
    assert "garbled" in log_text


def test_headless_says_once_on_stderr_that_it_polls_when_the_stream_is_forbidden(tmp_path, cli_env, model_args):
    with XServer(token=TOKEN, forbidden={"stream"}) as server:
        for i in (1, 2, 3):
            server.publish(i, f"$AAPL update number {i}", username=f"user{i}")
        config = tmp_path / "config.yaml"
        config.write_text("watchlist: [AAPL]\nx:\n  poll_interval_s: 0.2\n")
        env = dict(cli_env, X_BEARER_TOKEN=TOKEN, FINTERM_X_API_BASE=server.base_url)
        # the linger lets a few more polls run, which must not repeat the notice
        proc, got, err = run_live(["--headless", "--config", config, *model_args], tmp_path, env, lines=3, linger=1.0)
    assert proc.returncode == 143, err  # ended by run_live's SIGTERM, as shells expect (issue 22)
    assert [json.loads(x)["id"] for x in got] == ["1", "2", "3"]
    assert err.count("finterm: polling") == 1 and "access level" in err, err
    assert TOKEN not in err


def test_rejected_token_ends_the_run_with_one_line_and_no_secret(tmp_path, cli_env, model_args, finterm):
    with XServer(token="the-right-one") as server:
        (tmp_path / "config.yaml").write_text("watchlist: [AAPL]\n")
        env = dict(cli_env, X_BEARER_TOKEN=TOKEN, FINTERM_X_API_BASE=server.base_url)
        r = finterm("--headless", *model_args, env=env, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "Traceback" not in err and TOKEN not in err
    assert "X rejected the bearer token" in err.strip().splitlines()[-1]
    assert r.stdout == b""


def test_nothing_to_watch_is_a_config_error(tmp_path, cli_env, model_args, finterm):
    env = dict(cli_env, X_BEARER_TOKEN=TOKEN, FINTERM_X_API_BASE="http://127.0.0.1:9")
    r = finterm("--headless", *model_args, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.decode().startswith("finterm: nothing to watch on X")
