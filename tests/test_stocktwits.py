"""The StockTwits source against a local StockTwits-speaking HTTP server: pages, since=, the
hourly budget, 429 with Retry-After, a 404 symbol, a refusal; and several sources merged."""

from __future__ import annotations

import time

import pytest

from finterm.errors import ConfigError
from finterm.records import SourceStatus
from finterm.sources.merged import MergedSource, merged_state
from finterm.sources.stocktwits.source import (DEFAULT_SYMBOLS, StocktwitsSettings, StocktwitsSource, message_tweet,
                                               retry_after)
from tests.stocktwits_server import BotCheck, RateLimited, Status, StocktwitsServer
from tests.test_bluesky import run_source


def settings(st, symbols=("AAPL",), **kw) -> StocktwitsSettings:
    return StocktwitsSettings(api_base=st.api_base, requests_per_hour=kw.pop("rph", 36_000), symbols=list(symbols),
                              backoff_initial_s=0.05, **kw)


def test_message_to_tweet_carries_crowd_tag_url_and_symbols():
    m = {"id": 42, "body": "$AAPL &amp; $TSLA up", "created_at": "2026-11-25T10:00:00Z", "user": {"username": "bob"},
         "symbols": [{"symbol": "AAPL"}, {"symbol": "TSLA"}], "entities": {"sentiment": {"basic": "Bullish"}}}
    t = message_tweet(m)
    assert (t.id, t.author, t.text, t.tickers) == ("42", "bob", "$AAPL & $TSLA up", ("AAPL", "TSLA"))
    assert t.crowd_sentiment == "Bullish" and t.url == "https://stocktwits.com/bob/message/42" and t.source == "stocktwits"
    assert message_tweet(dict(m, entities={"sentiment": None})).crowd_sentiment is None
    assert message_tweet(dict(m, entities={"sentiment": {"basic": "Moon"}})).crowd_sentiment is None
    assert message_tweet(dict(m, user={"username": "a b/../c"})).url == "https://stocktwits.com/a%20b%2F..%2Fc/message/42"
    assert message_tweet({"id": "x", "body": "hi"}) is None and message_tweet({"id": 1}) is None
    assert message_tweet(dict(m, created_at="2999-01-01T00:00:00Z")).created_at.year < 2999


def test_retry_after_reads_seconds_and_dates():
    assert retry_after("7") == 7.0 and retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_settings_from_config_and_environment():
    cfg = {"watchlist": ["aapl"], "sources": {"stocktwits": {"symbols": ["$tsla", "AAPL"], "requests_per_hour": 60}}}
    s = StocktwitsSettings.from_config(cfg, env={"FINTERM_STOCKTWITS_API_BASE": "http://127.0.0.1:9/api/2/"})
    assert s.symbols == ["AAPL", "TSLA"] and s.interval_s == 60.0 and s.api_base == "http://127.0.0.1:9/api/2"
    assert StocktwitsSettings.from_config({}, env={}).symbols == list(DEFAULT_SYMBOLS)
    with pytest.raises(ConfigError):
        StocktwitsSettings(api_base="ftp://x")


def test_pages_since_and_each_message_once():
    with StocktwitsServer(page_size=3) as st:
        for i in range(1, 6):
            st.publish(i, f"$AAPL {i}", symbols=("AAPL",))
        st.publish(6, "$AAPL $TSLA both", symbols=("AAPL", "TSLA"))
        source = StocktwitsSource(settings(st, ("AAPL", "TSLA")))

        def more(got):
            if len(got) >= 3 and 7 not in st.messages["AAPL"]:
                for i in range(7, 15):
                    st.publish(i, f"$AAPL later {i}", symbols=("AAPL",))
            return len(got) >= 11

        got, statuses, errors = run_source(source, 0.3, until=more)
    assert not errors
    # the first poll takes the newest page only (4, 5, 6); then since=6 pages back to 7
    assert [t.id for t in got] == ["4", "5", "6"] + [str(i) for i in range(7, 15)]
    first_aapl = [q for s, q, _ in st.requests if s == "AAPL"][0]
    assert first_aapl == {}
    assert any(q.get("max") for s, q, _ in st.requests if s == "AAPL")
    assert statuses[-1].state == "live"


def test_budget_spreads_requests():
    with StocktwitsServer() as st:
        st.add_symbol("AAPL")
        source = StocktwitsSource(settings(st, rph=7200))  # one request every 0.5 s
        run_source(source, 1.2, timeout=0.1)
    assert 2 <= len(st.requests) <= 4


def test_429_waits_for_retry_after_and_404_drops_one_symbol():
    with StocktwitsServer(faults={"AAPL": [RateLimited("1")]}) as st:
        st.publish(1, "$AAPL one", symbols=("AAPL",), sentiment="Bearish")
        st.publish(2, "$TSLA two", symbols=("TSLA",))
        warnings = []
        source = StocktwitsSource(settings(st, ("AAPL", "NOPE", "TSLA")), warn=warnings.append)
        t0 = time.monotonic()
        got, statuses, errors = run_source(source, 0.3, until=lambda g: len(g) >= 2)
        took = time.monotonic() - t0
    assert not errors and sorted(t.id for t in got) == ["1", "2"]
    assert warnings == ["StockTwits has no symbol NOPE (HTTP 404); dropped it, the others go on"]
    limited = [s for s in statuses if s.state == "rate_limited"]
    assert len(limited) == 1 and "until" in limited[0].detail and limited[0].next_retry_at > time.time() - 5
    assert took >= 1.0  # AAPL waited for its Retry-After
    assert [s for s, _, _ in st.requests].count("NOPE") == 1 and set(source.symbols) == {"AAPL", "TSLA"}


def test_server_errors_retry_and_a_bot_check_stops_the_source():
    with StocktwitsServer(faults={"AAPL": [Status(503), Status(502)]}) as st:
        st.publish(1, "$AAPL", symbols=("AAPL",))
        got, statuses, errors = run_source(StocktwitsSource(settings(st)), 0.1, until=lambda g: len(g) >= 1)
    assert not errors and [t.id for t in got] == ["1"]
    assert [s.attempt for s in statuses if s.state == "reconnecting"] == [1, 2]

    with StocktwitsServer(faults={"AAPL": [BotCheck()]}) as st:
        got, statuses, errors = run_source(StocktwitsSource(settings(st)))
    assert len(errors) == 1 and "refused finterm's request (HTTP 403)" in errors[0].message
    assert statuses[-1].state == "error"


def test_every_symbol_unknown_ends_with_one_line():
    with StocktwitsServer() as st:
        _, _, errors = run_source(StocktwitsSource(settings(st, ("NOPE", "NADA"))))
    assert "none of the symbols exist there (NOPE, NADA)" in errors[0].message


class _Fake:
    def __init__(self, name, posts=(), fail=None, statuses=()):
        self.name, self.posts, self.fail, self.statuses = name, posts, fail, statuses

    def describe(self):
        return f"fake {self.name}"

    def run(self, emit, status, stop):
        for st in self.statuses:
            status(st)
        for p in self.posts:
            emit(p)
        if self.fail:
            raise self.fail
        stop.wait(0.2)


def test_merged_sources_run_side_by_side_and_one_failing_stops_none():
    from finterm.errors import FintermError

    ok = _Fake("a", posts=[1, 2, 3], statuses=[SourceStatus("live")])
    bad = _Fake("b", fail=FintermError("refused"), statuses=[SourceStatus("connecting")])
    merged = MergedSource([ok, bad])
    assert merged.name == "a+b" and merged.describe() == "fake a · fake b"
    got, statuses, errors = run_source(merged, 0.0, timeout=3)
    assert not errors and sorted(got) == [1, 2, 3]
    last = statuses[-1]
    assert {p.source: p.state for p in last.parts} == {"a": "ended", "b": "error"}
    assert any(p.detail == "refused" for s in statuses for p in s.parts if p.source == "b")
    assert last.state == "ended"
    # all failing is a failure of the whole
    _, _, errors = run_source(MergedSource([_Fake("x", fail=FintermError("no")), _Fake("y", fail=RuntimeError("boom"))]), timeout=3)
    assert len(errors) == 1 and "every source stopped: x: no; y: boom" in errors[0].message


def test_merged_state_prefers_the_best():
    assert merged_state(["error", "live"]) == "live"
    assert merged_state(["rate_limited", "reconnecting"]) == "reconnecting"
    assert merged_state(["error", "error"]) == "error"
