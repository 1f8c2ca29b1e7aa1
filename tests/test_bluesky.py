"""The Bluesky source: the Jetstream filter frame by frame, and the real client against a local
Jetstream-speaking WebSocket server (drops, resume from cursor, deletes, hostile text)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from finterm.errors import ConfigError, FintermError
from finterm.records import PostDeleted, Tweet
from finterm.sources.bluesky.events import JetstreamFilter
from finterm.sources.bluesky.source import BlueskySettings, BlueskySource, subscribe_url
from tests.jetstream_server import (BASE_US, DID, Conn, JetstreamServer, account, delete, identity, like, post, raw,
                                    tag_facet, update)


def frame(ev: dict, t: int = BASE_US) -> bytes:
    return json.dumps(dict(ev, time_us=t)).encode()


def test_filter_keeps_cashtag_posts_and_counts_the_rest():
    f = JetstreamFilter()
    kept = [f.feed(frame(e, BASE_US + i)) for i, e in enumerate([
        identity(), account(), like("l1"),
        post("a", "$AAPL up"),                                 # kept
        post("b", "no tags"),                                  # no cashtag
        post("c", "$5 lunch, $1.2M house"),                    # money is not a cashtag
        post("d", "$TSLA", langs=["ja"]),                      # not English
        post("e", "$NVDA", langs=["en-GB", "fr"]),             # kept: one of its langs is English
        post("f", "#chips", facets=[tag_facet("$AMD")]),       # kept: a $ tag facet
        post("g", "#chips", facets=[tag_facet("$5")]),         # a tag facet that is no cashtag
        update("a", "$AAPL edited"),                           # an update is not a new post
        post("a", "$AAPL up"),                                 # resent: duplicate
        delete("b"),                                           # deletes a post never kept
        delete("a"),                                           # deletes a kept post
    ])]
    tweets = [x for x in kept if isinstance(x, Tweet)]
    assert [t.tickers for t in tweets] == [("AAPL",), ("NVDA",), ("AMD",)]
    assert [x for x in kept if isinstance(x, PostDeleted)] == [PostDeleted("bluesky", f"at://{DID}/app.bsky.feed.post/a")]
    c = f.counts
    assert (c.events, c.kept, c.deleted, c.duplicate) == (14, 3, 1, 1)
    assert (c.no_cashtag, c.not_english, c.other) == (3, 1, 5)
    assert f.cursor == BASE_US + 13
    t = tweets[0]
    assert t.source == "bluesky" and t.id == f"at://{DID}/app.bsky.feed.post/a" and t.author == DID
    assert t.url == f"https://bsky.app/profile/{DID}/post/a" and t.lang == "en" and t.crowd_sentiment is None


def test_filter_survives_malformed_hostile_and_oversized_frames():
    f = JetstreamFilter(max_event_bytes=50_000)
    bad = [
        b"", b"\xff\xfe not utf8 $", b"[1, 2, 3]", b'"app.bsky.feed.post" $',
        b'{"did": "did:plc:x", "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "record": {"text": "$AAPL',
        frame({"did": "not a did", "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "create",
                                                              "rkey": "a", "record": {"text": "$AAPL"}}}),
        frame({"did": DID, "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "create",
                                                        "rkey": "../../x", "record": {"text": "$AAPL"}}}),
        frame({"did": DID, "kind": "commit", "commit": {"collection": "app.bsky.feed.post", "operation": "create",
                                                        "rkey": "n", "record": {"text": 42, "x": "$"}}}),
        frame(post("big", "$GME " + "x" * 60_000)),
    ]
    assert all(f.feed(b) is None for b in bad)
    assert f.counts.malformed == 5 and f.counts.oversized == 1 and f.counts.kept == 0 and f.counts.other == 3
    hostile = "$AMD [bold red]FAKE[/] \x1b[2J\x1b]0;t\x07 \u202eevil\u202c \u200b"
    t = f.feed(frame(post("h", hostile, created_at="2999-01-01T00:00:00Z")))
    assert "[bold red]FAKE[/]" in t.text and "\x1b" not in t.text and "\u202e" not in t.text and "\u200b" not in t.text
    assert t.created_at.year == 2026  # a post dated far after its event is dated by the event


def test_subscribe_url_adds_collection_and_cursor():
    assert subscribe_url("wss://j.example/subscribe", None) == "wss://j.example/subscribe?wantedCollections=app.bsky.feed.post"
    assert subscribe_url("wss://j.example/subscribe?wantedCollections=x&cursor=5", 9) == \
        "wss://j.example/subscribe?wantedCollections=x&cursor=9"
    with pytest.raises(ConfigError, match="ws:// or wss://"):
        BlueskySettings(url="https://j.example")
    assert BlueskySettings.from_config({"sources": {"bluesky": {"url": "ws://a/s"}}}, env={}).url == "ws://a/s"
    assert BlueskySettings.from_config({}, env={"FINTERM_BLUESKY_URL": "ws://b/s"}).url == "ws://b/s"


def run_source(source, seconds: float = 0.0, until=None, timeout: float = 20.0):
    got, statuses, stop = [], [], threading.Event()
    errors = []

    def target():
        try:
            source.run(got.append, statuses.append, stop)
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and t.is_alive() and not (until and until(got)):
        time.sleep(0.02)
    time.sleep(seconds)
    stop.set()
    t.join(10)
    assert not t.is_alive()
    return got, statuses, errors


def fast(url: str, **kw) -> BlueskySettings:
    return BlueskySettings(url=url, backoff_initial_s=0.05, backoff_max_s=0.2, **kw)


def test_drop_mid_stream_resumes_from_the_cursor_nothing_lost_nothing_twice():
    events = [post(f"p{i}", f"$SPY post {i}") if i % 3 else post(f"p{i}", f"plain {i}") for i in range(60)]
    script = [Conn(10, "drop"), Conn(25, "close"), Conn(None, "hold")]
    with JetstreamServer(events, script) as js:
        source = BlueskySource(fast(js.url, rewind_s=0.45))  # frames are 0.1 s apart: 4 come again
        want = [f"p{i}" for i in range(60) if i % 3]
        got, statuses, errors = run_source(source, 0.3, until=lambda g: len(g) >= len(want))
        cursors = [c.get("cursor", [None])[0] for c in js.connections]
    assert not errors
    assert [t.id.rsplit("/", 1)[1] for t in got] == want
    assert source.filter.counts.duplicate > 0  # sent again after the rewind, dropped by URI
    assert cursors[0] is None and cursors[1] == str(BASE_US + 9 * 100_000 - 450_000)
    assert [s.state for s in statuses].count("reconnecting") == 2
    assert max(s.attempt for s in statuses) == 2


def test_delete_of_a_kept_post_follows_it():
    with JetstreamServer([post("a", "$AAPL"), post("b", "$TSLA"), delete("a"), delete("zz")]) as js:
        got, _, _ = run_source(BlueskySource(fast(js.url)), 0.2, until=lambda g: len(g) >= 3)
    assert [type(x).__name__ for x in got] == ["Tweet", "Tweet", "PostDeleted"]
    assert got[2].id == got[0].id


def test_a_refusing_server_stops_the_source_with_one_line():
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_error(404)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        _, statuses, errors = run_source(BlueskySource(fast(f"ws://127.0.0.1:{httpd.server_address[1]}/subscribe")))
    finally:
        httpd.shutdown()
    assert len(errors) == 1 and isinstance(errors[0], FintermError)
    assert "refused the connection (HTTP 404)" in errors[0].message


def test_nothing_listening_keeps_retrying_with_backoff():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    got, statuses, errors = run_source(BlueskySource(fast(f"ws://127.0.0.1:{port}/subscribe")), 0.6)
    assert not errors and not got
    waits = [s for s in statuses if s.state == "reconnecting"]
    assert len(waits) >= 2 and "cannot reach" in waits[0].detail and waits[-1].attempt == len(waits)


def test_malformed_frame_and_raw_garbage_in_the_stream_are_skipped():
    events = [post("a", "$AAPL"), raw(b'{"did": "x", "kind": "commit", "commit": {"collection": "app.bsky.feed.post", $'),
              raw(b"\x00\x01garbage"), post("b", "$MSFT")]
    with JetstreamServer(events) as js:
        source = BlueskySource(fast(js.url))
        got, _, errors = run_source(source, 0.1, until=lambda g: len(g) >= 2)
    assert not errors and [t.tickers for t in got] == [("AAPL",), ("MSFT",)]
    assert source.filter.counts.malformed == 1
