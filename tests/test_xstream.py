"""The live X source against a real local HTTP server speaking X API v2 (tests/xserver.py).

The real tweepy client connects over TCP; faults are scripted on the server side. Every
test checks outcomes (which tweets came out, how often, what was requested), not timings.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from finterm.errors import ConfigError, FintermError
from finterm.sources.x.settings import XSettings
from finterm.sources.x.stream import XStreamSource
from tests.xserver import Error, Stream, XServer, drop, drop_mid_line, end, garbled, hold, keepalive, tweet

TOKEN = "AAAAAAAAAAAAAAAAAAAAA-s3cr3t-b3ar3r-t0k3n-xyz"


def fast_settings(server: XServer, **kw) -> XSettings:
    """Real settings with every wait shrunk so a test takes well under a second per fault."""
    base = dict(
        bearer_token=TOKEN, api_base=server.base_url, watchlist=["AAPL", "TSLA"],
        backoff_initial_s=0.01, backoff_max_s=0.05, network_backoff_s=0.01, network_backoff_max_s=0.05,
        rate_limit_wait_s=0.02, poll_interval_s=0.05, read_timeout_s=30.0, request_timeout_s=10.0,
    )
    base.update(kw)
    return XSettings(**base)


class Run:
    """Runs a source in its own thread, as the pipeline does, collecting what it emits."""

    def __init__(self, source: XStreamSource, emit_error: Exception | None = None) -> None:
        self.source = source
        self.tweets = []
        self.statuses = []
        self.error: BaseException | None = None
        self.emit_error = emit_error
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.source.run(self._emit, self._status, self.stop)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc
        finally:
            with self.cond:
                self.cond.notify_all()

    def _emit(self, t) -> None:
        if self.emit_error is not None:
            raise self.emit_error
        with self.cond:
            self.tweets.append(t)
            self.cond.notify_all()

    def _status(self, st) -> None:
        with self.cond:
            self.statuses.append(st)
            self.cond.notify_all()

    def __enter__(self) -> "Run":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "run() did not return after stop was set"

    def wait(self, predicate, timeout: float = 20.0) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: predicate(self) or not self.thread.is_alive(), timeout)
        assert ok and (predicate(self) or self.error is None), f"gave up waiting; statuses={self.states()}"
        if self.error is not None and not predicate(self):
            raise AssertionError(f"run() ended with {self.error!r}")

    def ids(self) -> list[str]:
        return [t.id for t in self.tweets]

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


def publish_many(server: XServer, n: int, start: int = 1) -> list[str]:
    ids = []
    for i in range(start, start + n):
        tick = "AAPL" if i % 2 else "TSLA"
        server.publish(i, f"${tick} rally #{i}: shares up &amp; running 🚀", username=f"user{i % 3}")
        ids.append(str(i))
    return ids


def test_every_tweet_exactly_once_through_drops_errors_and_resends():
    script = [
        Error(503),
        Stream([tweet(1), keepalive(), tweet(2), garbled(), tweet(3), drop_mid_line(4)]),
        Error(429),  # no x-rate-limit-reset: waits rate_limit_wait_s
        Stream([tweet(3), tweet(4), tweet(5), drop()]),  # 3 is resent after the reconnect
        Error(500),
        Stream([tweet(4), tweet(5), tweet(6), end()]),  # clean close by X
        Stream([garbled(b"\x00\xff not json"), tweet(6), tweet(7), tweet(8), hold()]),
    ]
    with XServer(token=TOKEN, stream_script=script) as server:
        ids = publish_many(server, 8)
        with Run(XStreamSource(fast_settings(server))) as run:
            run.wait(lambda r: len(r.tweets) >= 8)
            # The last connection is held open: nothing more is coming.
            assert server.stream_connections == 7
        assert run.error is None
        assert run.ids() == ids

        states = run.states()
        assert states[0] == "connecting"
        assert states.count("live") == 4
        retries = [s for s in run.statuses if s.state == "reconnecting"]
        assert len(retries) == 6
        assert all(s.next_retry_at is not None for s in retries)
        assert any("503" in s.detail for s in retries)
        assert any("429" in s.detail and "rate limited" in s.detail for s in retries)

        first = run.tweets[0]
        assert first.author == "user1"
        assert first.tickers == ("AAPL",)
        assert first.text == "$AAPL rally #1: shares up & running 🚀"
        assert first.lang == "en" and first.source == "x"
        assert first.created_at.isoformat() == "2026-11-25T10:00:00+00:00"
        assert first.arrived > 0

        stream_req = server.requests_to("/2/tweets/search/stream")[0]["params"]
        assert stream_req["expansions"] == "author_id"
        assert {"created_at", "entities", "author_id", "lang"} <= set(stream_req["tweet.fields"].split(","))
        assert stream_req["user.fields"] == "username"


def test_rate_limit_waits_for_x_rate_limit_reset():
    reset = int(time.time()) + 2  # at least a second away: longer than any other wait here
    script = [Error(429, headers={"x-rate-limit-reset": reset}), Stream([tweet(1), hold()])]
    with XServer(token=TOKEN, stream_script=script) as server:
        publish_many(server, 1)
        with Run(XStreamSource(fast_settings(server))) as run:
            run.wait(lambda r: len(r.tweets) == 1)
        retry = next(s for s in run.statuses if s.state == "reconnecting")
        assert retry.next_retry_at >= reset - 0.05
        # The reconnect came no earlier than X allowed.
        second = server.requests_to("/2/tweets/search/stream")[1]
        assert second["at"] >= reset - 0.05


def test_rule_sync_adds_ours_deletes_our_stale_rules_and_leaves_others():
    script = [Stream([tweet(10), tweet(11), tweet(12), hold()])]
    with XServer(token=TOKEN, stream_script=script) as server:
        other = server.add_rule("bitcoin", tag="other-app")
        untagged = server.add_rule("$NVDA")
        stale = server.add_rule("$GME -is:retweet", tag="finterm:watchlist")
        kept = server.add_rule("earnings lang:en", tag="finterm:rule")
        server.publish(10, "bitcoin to the moon")  # only the other app's rule matches
        server.publish(11, "$NVDA earnings beat", username="nv")  # matches our custom rule too
        server.publish(12, "$AAPL new highs", username="ap")
        settings = fast_settings(server, watchlist=["AAPL"], rules=["earnings lang:en"])
        with Run(XStreamSource(settings)) as run:
            run.wait(lambda r: "12" in r.ids())
        values = {r["value"]: r for r in server.rules.values()}
        assert set(values) == {"bitcoin", "$NVDA", "earnings lang:en", "$AAPL -is:retweet"}
        assert values["bitcoin"]["id"] == other and values["$NVDA"]["id"] == untagged
        assert values["earnings lang:en"]["id"] == kept
        assert stale not in server.rules
        assert values["$AAPL -is:retweet"]["tag"] == "finterm:watchlist"
        assert run.ids() == ["11", "12"]
        posts = [r["body"] for r in server.requests_to("/2/tweets/search/stream/rules") if r["method"] == "POST"]
        assert {"delete": {"ids": [stale]}} in posts
        assert {"add": [{"value": "$AAPL -is:retweet", "tag": "finterm:watchlist"}]} in posts


@pytest.mark.parametrize("forbidden", [{"stream"}, {"stream", "rules"}])
def test_403_says_so_once_and_polls_recent_search(forbidden, caplog):
    caplog.set_level(logging.INFO)
    with XServer(token=TOKEN, forbidden=forbidden, search_script=[None, Error(503)]) as server:
        publish_many(server, 3)
        with Run(XStreamSource(fast_settings(server))) as run:
            run.wait(lambda r: len(r.tweets) == 3)
            publish_many(server, 2, start=4)
            run.wait(lambda r: len(r.tweets) == 5)
            publish_many(server, 1, start=6)
            run.wait(lambda r: len(r.tweets) == 6)
        assert run.error is None
        assert run.ids() == ["1", "2", "3", "4", "5", "6"]
        assert all(t.source == "x" and t.author.startswith("user") for t in run.tweets)
        assert run.tweets[0].tickers == ("AAPL",)

        polling = [s for s in run.statuses if s.state == "polling"]
        assert polling and "access level" in polling[0].detail
        assert "reconnecting" in run.states()  # the scripted 503 on a search request
        notices = [r for r in caplog.records if "access level has no filtered stream" in r.getMessage()]
        assert len(notices) == 1

        searches = [r["params"] for r in server.requests_to("/2/tweets/search/recent")]
        assert "$AAPL" in searches[0]["query"] and "$TSLA" in searches[0]["query"]
        assert "since_id" not in searches[0]
        assert {"3", "5"} <= {p.get("since_id") for p in searches}
        assert searches[0]["expansions"] == "author_id"


def test_polling_pages_through_a_burst_and_respects_the_rate_limit():
    with XServer(token=TOKEN, forbidden={"stream"}) as server:
        publish_many(server, 1)
        settings = fast_settings(server, poll_interval_s=0.05)
        with Run(XStreamSource(settings)) as run:
            run.wait(lambda r: len(r.tweets) == 1)
            publish_many(server, 150, start=2)  # more than one page of 100
            run.wait(lambda r: len(r.tweets) == 151)
        assert run.ids() == [str(i) for i in range(1, 152)]
        pages = [r["params"] for r in server.requests_to("/2/tweets/search/recent") if "next_token" in r["params"]]
        assert pages

    with XServer(token=TOKEN, forbidden={"stream"}, rate_limit_remaining=0) as server:
        publish_many(server, 2)
        with Run(XStreamSource(fast_settings(server, poll_interval_s=0.01))) as run:
            run.wait(lambda r: len(r.tweets) == 2)
            time.sleep(0.3)  # many poll intervals: none may be used while the window is spent
        assert len(server.requests_to("/2/tweets/search/recent")) == 1


def test_token_never_appears_in_reprs_logs_statuses_or_errors(caplog):
    caplog.set_level(logging.DEBUG)  # tweepy's and urllib3's debug logging included
    script = [Error(503), Stream([tweet(1), garbled(), drop()]), Stream([tweet(2), hold()])]
    with XServer(token=TOKEN, stream_script=script) as server:
        publish_many(server, 2)
        settings = fast_settings(server)
        source = XStreamSource(settings)
        with Run(source) as run:
            run.wait(lambda r: len(r.tweets) == 2)
    seen = [repr(settings), repr(source), source.describe(), caplog.text,
            *(repr(s) for s in run.statuses), *(repr(t) for t in run.tweets)]
    assert not any(TOKEN in s for s in seen)
    assert caplog.text  # it did log (retries, the garbled line)


def test_wrong_token_is_an_error_that_names_no_secret():
    with XServer(token="the-right-one") as server:
        with Run(XStreamSource(fast_settings(server))) as run:
            run.thread.join(10)
    assert isinstance(run.error, FintermError)
    assert "bearer token" in run.error.message and TOKEN not in run.error.message
    assert run.states()[-1] == "error"
    assert len(server.requests_to("/2/tweets/search/stream/rules")) == 1  # no retry loop


def test_stop_ends_a_quiet_stream_promptly():
    with XServer(token=TOKEN, stream_script=[Stream([hold()])], keepalive_s=5.0) as server:
        with Run(XStreamSource(fast_settings(server, read_timeout_s=60.0))) as run:
            run.wait(lambda r: "live" in r.states())
        # __exit__ asserts run() returned within its join timeout, well before a keep-alive.
        assert run.error is None


def test_stop_during_the_rule_sync_ends_the_run():
    with XServer(token=TOKEN, stream_script=[Stream([hold()])], rules_delay_s=0.3) as server:
        with Run(XStreamSource(fast_settings(server))) as run:
            while not server.requests_to("/2/tweets/search/stream/rules"):
                time.sleep(0.01)
        assert run.error is None and "live" not in run.states()


def test_an_error_in_emit_ends_the_run_instead_of_reconnecting():
    with XServer(token=TOKEN, stream_script=[Stream([tweet(1), hold()])]) as server:
        publish_many(server, 1)
        with Run(XStreamSource(fast_settings(server)), emit_error=RuntimeError("queue closed")) as run:
            run.thread.join(10)
        assert isinstance(run.error, RuntimeError)
        assert server.stream_connections == 1


def test_long_posts_come_whole_with_their_cashtags():
    long_text = "$MSFT " + "cloud growth " * 30 + "$NVDA"
    with XServer(token=TOKEN, stream_script=[Stream([tweet(1), hold()])]) as server:
        server.publish(1, long_text[:270] + "…", long_text=long_text)
        with Run(XStreamSource(fast_settings(server, watchlist=["MSFT"]))) as run:
            run.wait(lambda r: len(r.tweets) == 1)
    assert run.tweets[0].text == long_text
    assert run.tweets[0].tickers == ("MSFT", "NVDA")


def test_construction_needs_a_token_and_something_to_watch():
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN"):
        XStreamSource(XSettings(watchlist=["AAPL"]))
    with pytest.raises(ConfigError, match="nothing to watch"):
        XStreamSource(XSettings(bearer_token=TOKEN))
