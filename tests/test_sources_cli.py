"""`finterm --headless` live on Bluesky and StockTwits against local servers speaking their APIs, end to end.

The real command, the real pipeline and tiny real models. Bluesky's Jetstream is a WebSocket
server on loopback (tests/jetstream_server.py) that drops the connection mid-stream; the
client resumes from its cursor: every cashtag post comes out exactly once. StockTwits is an
HTTP server (tests/stocktwits_server.py) with pages, since=, a 429 with Retry-After and a
404 symbol. Both at once merge into one feed, and killing one server leaves the other flowing.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import polars as pl
import pytest

from tests.conftest import popen_finterm
from tests.jetstream_server import Conn, JetstreamServer, account, delete, identity, like, post, raw, tag_facet, update
from tests.stocktwits_server import RateLimited, StocktwitsServer

pytestmark = pytest.mark.slow

HOSTILE = "$AMD [bold red]FAKE ALERT[/] \x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c [link=https://x.y]click[/link]"
BIG = "$GME " + "squeeze " * 2500  # a 20 kB post


def bluesky_events():
    """A Jetstream timeline: 7 cashtag posts to keep among events to skip."""
    return [
        identity(), account(),
        post("p1", "$AAPL beats earnings, shares up"),
        like("l1"),
        post("p2", "no cashtag at all, just vibes"),
        post("p3", "$TSLA falls on delivery miss", langs=["ja"]),  # not English: skipped
        post("p4", "chips are hot #stocks", facets=[tag_facet("$NVDA")]),  # a cashtag only as a tag facet
        raw(b'{"did": "did:plc:zz", "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "cre'),
        update("p1", "$AAPL edited"),
        post("p5", HOSTILE, langs=[]),
        post("p6", BIG),
        delete("p2"),
        post("p7", "$SPY rally into the close", langs=["en-US"]),
        post("p8", "$MSFT guidance raised"),
        post("p9", "$QQQ $SPY both down"),
    ]


KEPT = ["p1", "p4", "p5", "p6", "p7", "p8", "p9"]


def uri(rkey: str) -> str:
    return f"at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/{rkey}"


def read_lines(stream, out: list) -> None:
    for line in iter(stream.readline, b""):
        out.append(line)


def run_until(args, cwd, env, lines: int, timeout: float = 120, during=None):
    """Run finterm; `during(got)` is called while it runs; SIGTERM after `timeout` if still going."""
    proc = popen_finterm(args, cwd, env)
    got: list[bytes] = []
    reader = threading.Thread(target=read_lines, args=(proc.stdout, got), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if during is not None:
                during(got)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    return proc, [json.loads(x) for x in got], proc.stderr.read().decode()


def test_bluesky_headless_limit_through_a_dropped_connection(tmp_path, cli_env, model_args):
    # the first connection sends 8 frames (2 cashtag posts among them) and drops; the client
    # resumes from its cursor, rewound 2 s (20 frames here): what comes again is dropped by URI
    with JetstreamServer(bluesky_events(), [Conn(8, "drop"), Conn(None, "hold")]) as js:
        env = dict(cli_env, FINTERM_BLUESKY_URL=js.url)
        record = tmp_path / "bsky.parquet"
        proc, out, err = run_until(["--source", "bluesky", "--headless", "--limit", "7", "--record", record, *model_args],
                                   tmp_path, env, lines=7)
        cursors = [c.get("cursor") for c in js.connections]
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert [o["id"] for o in out] == [uri(k) for k in KEPT]  # each once, in order, nothing lost
    assert len(cursors) >= 2 and cursors[0] is None and cursors[1] is not None  # resumed from a cursor
    first = out[0]
    assert first["source"] == "bluesky" and first["crowd_sentiment"] is None
    assert first["url"] == "https://bsky.app/profile/did:plc:abcdefghijklmnopqrstuvwx/post/p1"
    assert first["tickers"] == ["AAPL"] and first["created_at"] == "2026-11-25T10:00:00Z"
    assert out[1]["tickers"] == ["NVDA"]  # from the tag facet
    hostile = out[2]
    assert "[bold red]FAKE ALERT[/]" in hostile["text"] and "\x1b" not in hostile["text"] and "\u202e" not in hostile["text"]
    assert len(out[3]["text"]) > 20_000 and out[3]["sentiment"] in ("Bullish", "Bearish", "Neutral")
    summary = err.strip().splitlines()[-1]
    assert "7 tweets" in summary and "sources: bluesky" in summary and "1 reconnect" in summary, summary
    assert err.count("finterm: reconnecting") == 1
    rec = pl.read_parquet(record)
    assert rec["id"].to_list() == [uri(k) for k in KEPT]
    assert rec["url"].to_list()[0].startswith("https://bsky.app/") and rec["source"].to_list()[0] == "bluesky"


def stocktwits_config(tmp_path, watch="[AAPL, TSLA, NOPE]"):
    config = tmp_path / "config.yaml"
    config.write_text(f"watchlist: {watch}\nsources:\n  stocktwits:\n    requests_per_hour: 36000\n")
    return config


def test_stocktwits_headless_through_429_and_404_with_crowd_tags(tmp_path, cli_env, model_args):
    faults = {"AAPL": [None, RateLimited("1")]}  # the second AAPL request is told to wait a second
    with StocktwitsServer(page_size=2, faults=faults) as st:
        st.publish(1, "$AAPL beats, buying more", symbols=("AAPL",), username="bull1", sentiment="Bullish")
        st.publish(2, "$TSLA deliveries miss, out", symbols=("TSLA",), username="bear1", sentiment="Bearish")
        st.publish(3, "$AAPL $TSLA both in one message", symbols=("AAPL", "TSLA"), username="both")  # in two streams
        later = [(10 + i, f"$AAPL update {i} " + HOSTILE * (i == 2), "Bullish" if i % 2 else None) for i in range(5)]

        def publish_later(got):  # once every symbol has had its first poll: 5 more, more than a page
            if not later or len({r[0] for r in st.requests}) < 3:
                return
            for mid, body, tag in later:
                st.publish(mid, body, symbols=("AAPL",), username=f"user{mid}", sentiment=tag)
            later.clear()

        env = dict(cli_env, FINTERM_STOCKTWITS_API_BASE=st.api_base)
        proc, out, err = run_until(["--source", "stocktwits", "--headless", "--limit", "8", "--config",
                                    stocktwits_config(tmp_path), *model_args], tmp_path, env, lines=8, during=publish_later)
        requests = list(st.requests)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    ids = [o["id"] for o in out]
    assert sorted(ids, key=int) == ["1", "2", "3", "10", "11", "12", "13", "14"] and len(set(ids)) == 8, ids
    by_id = {o["id"]: o for o in out}
    assert by_id["1"]["crowd_sentiment"] == "Bullish" and by_id["2"]["crowd_sentiment"] == "Bearish"
    assert by_id["3"]["crowd_sentiment"] is None and by_id["11"]["crowd_sentiment"] == "Bullish"
    assert by_id["1"]["url"] == "https://stocktwits.com/bull1/message/1" and by_id["1"]["source"] == "stocktwits"
    assert by_id["3"]["tickers"] == ["AAPL", "TSLA"]
    assert "[bold red]FAKE ALERT[/]" in by_id["12"]["text"] and "\x1b" not in by_id["12"]["text"]
    assert err.count("StockTwits has no symbol NOPE") == 1, err  # one warning, the others go on
    assert "finterm: rate-limited: StockTwits asked to wait until" in err, err
    assert any(s == "AAPL" and "max" in q for s, q, _ in requests)  # paged back
    assert [s for s, _, status in requests].count("NOPE") == 1
    assert "sources: stocktwits" in err.strip().splitlines()[-1]


def test_stocktwits_refused_says_why_in_one_line(tmp_path, cli_env, model_args, finterm):
    with StocktwitsServer(refuse_all=True) as st:
        env = dict(cli_env, FINTERM_STOCKTWITS_API_BASE=st.api_base)
        r = finterm("--source", "stocktwits", "--headless", "--config", stocktwits_config(tmp_path, "[AAPL]"), *model_args,
                    env=env, timeout=120)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err
    assert "StockTwits refused finterm's request (HTTP 403)" in err and "bot check" in err


def test_both_sources_merge_and_one_server_dying_leaves_the_other_flowing(tmp_path, cli_env, model_args):
    events = [post(f"b{i}", f"$NVDA post number {i}") for i in range(40)]
    with JetstreamServer(events, [Conn(None, "hold", pace_s=0.05)]) as js, StocktwitsServer() as st:
        st.publish(1, "$AAPL first", symbols=("AAPL",), sentiment="Bullish")
        st.publish(2, "$AAPL second", symbols=("AAPL",), sentiment="Bearish")
        killed = []

        def kill_stocktwits(got):  # both flowing: StockTwits goes away for good, Bluesky goes on
            if not killed and len(got) >= 5 and any(b'"stocktwits"' in x for x in got):
                killed.append(len(got))
                st.stop()

        env = dict(cli_env, FINTERM_BLUESKY_URL=js.url, FINTERM_STOCKTWITS_API_BASE=st.api_base)
        proc, out, err = run_until(["--source", "bluesky,stocktwits", "--headless", "--limit", "42", "--config",
                                    stocktwits_config(tmp_path, "[AAPL]"), *model_args],
                                   tmp_path, env, lines=42, during=kill_stocktwits)
    assert proc.returncode == 0, err
    assert killed and killed[0] < 42
    ids = [o["id"] for o in out]
    assert len(ids) == len(set(ids)) == 42
    assert sorted(i for i in ids if not i.startswith("at://")) == ["1", "2"]
    assert [i for i in ids if i.startswith("at://")] == [uri(f"b{i}") for i in range(40)]
    assert "finterm: stocktwits: reconnecting: cannot reach" in err, err  # said on stderr, by name
    summary = err.strip().splitlines()[-1]
    assert "sources: bluesky live; stocktwits reconnecting" in summary, summary


def test_no_flags_goes_live_on_the_free_sources_and_says_so(tmp_path, cli_env, model_args):
    with JetstreamServer([post("d1", "$AAPL hello"), post("d2", "$TSLA hi")]) as js, StocktwitsServer() as st:
        st.publish(5, "$SPY hey", symbols=("SPY",), sentiment="Bullish")
        for symbol in ("QQQ", "AAPL", "NVDA", "TSLA"):  # the few polled when nothing is configured
            st.add_symbol(symbol)
        env = dict(cli_env, FINTERM_BLUESKY_URL=js.url, FINTERM_STOCKTWITS_API_BASE=st.api_base)
        (tmp_path / "config.yaml").write_text("sources:\n  stocktwits:\n    requests_per_hour: 36000\n")
        proc, out, err = run_until(["--headless", "--limit", "3", *model_args], tmp_path, env, lines=3)
    assert proc.returncode == 0, err
    assert err.startswith("finterm: live on bluesky and stocktwits (no account needed; no X token set)"), err
    assert sorted(o["id"] for o in out) == ["5", uri("d1"), uri("d2")]
