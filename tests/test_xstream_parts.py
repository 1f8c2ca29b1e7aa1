"""The live X source's pure parts: rules, sync plans, settings, backoff, the seen-id memory."""

from __future__ import annotations

import pytest

from finterm.config import config_from_dict
from finterm.errors import ConfigError
from finterm.sources.recent_ids import RecentIds
from finterm.sources.x.retry import Backoff, Failure
from finterm.sources.x.rules import Rule, desired_rules, plan_sync, search_queries, watchlist_rules
from finterm.sources.x.settings import XSettings
from finterm.sources.x.stream import XStreamSource

TOKEN = "AAAA-unit-s3cr3t"


def test_watchlist_rules_fit_the_length_limit_and_cover_every_ticker():
    tickers = [f"T{i:03d}" for i in range(300)] + ["brk.b", "$aapl", "AAPL", "not a ticker"]
    rules = watchlist_rules(tickers, max_length=512)
    assert len(rules) > 1 and all(len(r) <= 512 for r in rules)
    assert all(r.endswith(" -is:retweet") and r.startswith("(") for r in rules)
    terms = [t for r in rules for t in r.split() if t.startswith("$") or t.startswith("($")]
    assert sorted(t.strip("()") for t in terms) == sorted({f"${t}" for t in tickers[:300]} | {"$BRK.B", "$AAPL"})
    assert watchlist_rules(["AAPL"]) == ["$AAPL -is:retweet"]
    assert watchlist_rules(["AAPL", "TSLA"], exclude_retweets=False) == ["($AAPL OR $TSLA)"]


def test_custom_rules_are_kept_as_written_and_too_long_is_a_config_error():
    rules = desired_rules(["AAPL"], ["earnings lang:en", "earnings lang:en", "  "])
    assert rules == [Rule("$AAPL -is:retweet", "finterm:watchlist"), Rule("earnings lang:en", "finterm:rule")]
    with pytest.raises(ConfigError, match="x.rules"):
        desired_rules([], ["x" * 600])


def test_sync_plan_touches_only_our_rules():
    existing = [Rule("bitcoin", "other", "1"), Rule("$AAPL -is:retweet", None, "2"),
                Rule("$GME -is:retweet", "finterm:watchlist", "3"), Rule("fed", "finterm:rule", "4")]
    desired = [Rule("$AAPL -is:retweet", "finterm:watchlist"), Rule("$TSLA -is:retweet", "finterm:watchlist"),
               Rule("fed", "finterm:rule")]
    plan = plan_sync(existing, desired)
    assert [r.value for r in plan.add] == ["$TSLA -is:retweet"]
    assert [r.id for r in plan.delete] == ["3"]
    assert sorted(r.id for r in plan.keep) == ["2", "4"]  # someone else's identical rule serves us too


def test_search_queries_or_rules_within_the_limit():
    assert search_queries(["$AAPL -is:retweet"]) == ["$AAPL -is:retweet"]
    assert search_queries(["a", "b c"]) == ["(a) OR (b c)"]
    many = [f"($T{i:03d} OR $U{i:03d}) -is:retweet" for i in range(40)]
    qs = search_queries(many, 512)
    assert len(qs) > 1 and all(len(q) <= 512 for q in qs)
    assert sum(q.count("-is:retweet") for q in qs) == 40


def test_settings_from_config_environment_wins_and_token_stays_out_of_repr():
    cfg = config_from_dict({"watchlist": ["aapl", "$tsla"],
                            "x": {"bearer_token": "from-file", "rules": ["fed lang:en"], "poll_interval_s": 30}})
    s = XSettings.from_config(cfg, env={})
    assert s.bearer_token == "from-file" and s.api_base == "https://api.x.com"
    assert s.watchlist == ["AAPL", "TSLA"] and s.rules == ["fed lang:en"] and s.poll_interval_s == 30
    s = XSettings.from_config(cfg, env={"X_BEARER_TOKEN": TOKEN, "FINTERM_X_API_BASE": "http://127.0.0.1:9/2/"})
    assert s.bearer_token == TOKEN and s.api_base == "http://127.0.0.1:9"
    assert TOKEN not in repr(s)
    assert not s.is_plain_http_remote()
    assert XSettings(api_base="http://proxy.corp").is_plain_http_remote()
    assert XSettings.from_config({"x": {"rules": "$AAPL lang:en"}}, env={}).rules == ["$AAPL lang:en"]
    assert XSettings.from_config({"x": {"max_rule_length": 1024}}, env={}).max_rule_length == 1024
    with pytest.raises(ConfigError):
        XSettings(api_base="ftp://x")
    with pytest.raises(ConfigError, match="poll_interval_s"):
        XSettings(poll_interval_s=0)
    source = XStreamSource(cfg, env={"X_BEARER_TOKEN": TOKEN})
    assert TOKEN not in repr(source) and "api.x.com" in source.describe()


def test_backoff_follows_x_guidance():
    s = XSettings(backoff_initial_s=5, backoff_max_s=320, network_backoff_s=0.25, network_backoff_max_s=16,
                  rate_limit_wait_s=60, max_wait_s=900)
    b = Backoff(s)
    http = Failure("http", 503)
    assert [b.delay(http) for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    net = Failure("network")
    assert [b.delay(net) for _ in range(3)] == [0.25, 0.5, 0.75]
    assert [b.delay(Failure("http", 429)) for _ in range(2)] == [60, 120]
    assert b.delay(Failure("http", 429, reset_at=1000.0), now=970.0) == 30.0
    assert b.delay(Failure("http", 429, reset_at=10_000.0), now=0.0) == 900  # capped
    b.reset()
    assert b.delay(http) == 5


def test_recent_ids_remember_a_bounded_window():
    seen = RecentIds(3)
    assert [seen.add(i) for i in "abca"] == [True, True, True, False]
    assert seen.add("d") and len(seen) == 3
    assert "b" not in seen and seen.add("b")  # forgotten: the oldest went first
