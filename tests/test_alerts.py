"""Alerts: rules parsed and refused, the engine on small synthetic streams with fixed
timestamps, the sink (--alerts file, the command hook with real child processes), and the
real CLI: the same alerts at --speed max and at --speed 20, a bad rule stopping it in one line."""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from finterm.alerts.engine import Alert, AlertEngine
from finterm.alerts.rules import Rule, check_topics, format_duration, parse_duration, parse_rules
from finterm.alerts.sink import AlertSink, CommandRunner
from finterm.config import config_from_dict
from finterm.errors import ConfigError
from finterm.records import Scored, Tweet
from tests.modelkit import TOPIC_LABELS

T0 = datetime(2024, 3, 1, 14, 0, 0, tzinfo=timezone.utc)
ISSUE_EXAMPLE = {
    "bell": True,
    "command": None,
    "rules": [
        {"name": "mood-swing", "kind": "swing", "tickers": "*", "window": "30m", "delta": 0.3, "min_posts": 10, "cooldown": "60m"},
        {"name": "buzz", "kind": "volume", "tickers": ["AAPL", "TSLA"], "window": "15m", "factor": 3, "min_posts": 10, "cooldown": "60m"},
        {"name": "deal-talk", "kind": "topic", "tickers": "*", "topics": ["M&A | Investments"], "window": "60m", "count": 5,
         "cooldown": "2h"},
    ],
}
FIELDS = ["time", "ticker", "rule", "kind", "value", "baseline", "window", "posts", "example_ids"]


def post(i: int, seconds: float, sentiment: str = "Neutral", tickers=("AAPL",), topic: str = "Markets") -> Scored:
    tw = Tweet(id=f"p{i}", created_at=T0 + timedelta(seconds=seconds), author="u", text="t", tickers=tuple(tickers))
    return Scored(tweet=tw, sentiment=sentiment, sentiment_score=0.9, topic=topic, topic_score=0.9)


def rules(*raw: dict) -> list[Rule]:
    return parse_rules(list(raw), "test.yaml", TOPIC_LABELS)


def run(engine: AlertEngine, posts: list[Scored]) -> list[Alert]:
    out = []
    for p in posts:
        out.extend(engine.add(p))
    return out


# -- rules ---------------------------------------------------------------------------------
def test_the_issues_example_config_parses():
    cfg = config_from_dict({"alerts": ISSUE_EXAMPLE}, "rules.yaml")
    assert cfg.alerts.bell and cfg.alerts.command is None
    swing, buzz, deal = parse_rules(cfg.alerts.rules, "rules.yaml", TOPIC_LABELS)
    assert (swing.kind, swing.tickers, swing.window_s, swing.delta, swing.min_posts, swing.cooldown_s) == \
        ("swing", None, 1800, 0.3, 10, 3600)
    assert (buzz.tickers, buzz.window_s, buzz.factor, buzz.baseline_s, buzz.floor) == (("AAPL", "TSLA"), 900, 3.0, 3600, 1.0)
    assert (deal.topics, deal.count, deal.cooldown_s, deal.window) == (("M&A | Investments",), 5, 7200, "60m")


def test_durations_defaults_and_spellings():
    assert [parse_duration(v) for v in ("90s", "30m", "2h", "1d", "1.5h", 15, "45")] == [90, 1800, 7200, 86400, 5400, 900, 2700]
    assert [format_duration(s) for s in (90, 1800, 7200, 86400)] == ["90s", "30m", "2h", "1d"]
    (r,) = rules({"kind": "swing", "window": "20m", "delta": 0.5, "tickers": "$aapl, tsla"})
    assert r.name == "swing-1" and r.cooldown_s == 1200 and r.min_posts == 10 and r.tickers == ("AAPL", "TSLA")
    (t,) = rules({"name": "legal", "kind": "topic", "topics": "legal | regulation", "window": "1h", "count": 2})
    assert t.topics == ("Legal | Regulation",) and t.min_posts == 0  # the model's spelling


@pytest.mark.parametrize("rule, words", [
    ({"name": "r", "kind": "spike", "window": "5m"}, "unknown kind 'spike'"),
    ({"name": "r", "window": "5m", "delta": 0.3}, "no 'kind'"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "factor": 2}, "unknown key 'factor' for a swing rule (that key is for volume"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "threshold": 2}, "unknown key 'threshold'"),
    ({"name": "r", "kind": "swing", "window": "-30m", "delta": 0.3}, "'window' must be positive"),
    ({"name": "r", "kind": "swing", "window": -5, "delta": 0.3}, "'window' must be positive"),
    ({"name": "r", "kind": "swing", "window": "soon", "delta": 0.3}, "not a duration"),
    ({"name": "r", "kind": "swing", "delta": 0.3}, "no 'window'"),
    ({"name": "r", "kind": "swing", "window": "5m"}, "needs 'delta'"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 3}, "'delta' must be above 0 and at most 2"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "cooldown": "-1h"}, "'cooldown' must not be negative"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "min_posts": 2.5}, "'min_posts' must be a whole number"),
    ({"name": "r", "kind": "volume", "window": "5m", "factor": 0}, "'factor' must be positive"),
    ({"name": "r", "kind": "volume", "window": "1h", "factor": 2, "baseline": "10m"}, "'baseline' must be at least the window"),
    ({"name": "r", "kind": "topic", "window": "5m", "count": 2, "topics": []}, "'topics' must be a list"),
    ({"name": "r", "kind": "topic", "window": "5m", "count": 2, "topics": ["Mergers"]}, "unknown topic 'Mergers'"),
    ({"name": "r", "kind": "topic", "window": "5m", "count": 0, "topics": ["IPO"]}, "'count' must be at least 1"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "tickers": ["*", "AAPL"]}, "either \"*\" or a list"),
    ({"name": "r", "kind": "swing", "window": "5m", "delta": 0.3, "tickers": 5}, "'tickers' must be"),
    ({"name": "", "kind": "swing", "window": "5m", "delta": 0.3}, "'name' must be a non-empty string"),
])
def test_bad_rules_are_refused_in_one_line_naming_the_rule(rule, words):
    with pytest.raises(ConfigError) as err:
        parse_rules([rule], "rules.yaml", TOPIC_LABELS)
    msg = err.value.message
    assert words in msg, msg
    assert "\n" not in msg and "rules.yaml" in msg
    assert ("alert rule 'r'" in msg) or ("alert rule 1" in msg)
    assert err.value.exit_code == 2


def test_config_refuses_bad_rules_and_alert_keys():
    with pytest.raises(ConfigError, match="alert rule 'x' in c.yaml: unknown kind"):
        config_from_dict({"alerts": {"rules": [{"name": "x", "kind": "nope", "window": "5m"}]}}, "c.yaml")
    with pytest.raises(ConfigError, match="alert rule 2 in c.yaml must be a mapping"):
        config_from_dict({"alerts": {"rules": [ISSUE_EXAMPLE["rules"][0], "swing"]}}, "c.yaml")
    with pytest.raises(ConfigError, match="alert rule 'dup' in c.yaml: the name is used twice"):
        config_from_dict({"alerts": {"rules": [{"name": "dup", "kind": "swing", "window": "5m", "delta": 1}] * 2}}, "c.yaml")
    with pytest.raises(ConfigError, match="unknown key 'alerts.sound'"):
        config_from_dict({"alerts": {"sound": True}}, "c.yaml")
    with pytest.raises(ConfigError, match="key 'alerts.rules' in c.yaml must be a list of mappings"):
        config_from_dict({"alerts": {"rules": "mood-swing"}}, "c.yaml")
    with pytest.raises(ConfigError, match="alerts.command_timeout_s"):
        config_from_dict({"alerts": {"command_timeout_s": 0}}, "c.yaml")
    with pytest.raises(ConfigError, match="ui.history_hours"):
        config_from_dict({"ui": {"history_hours": -1}}, "c.yaml")
    # topics are checked against the model's labels once the models are known
    (r,) = parse_rules([{"name": "x", "kind": "topic", "topics": ["Whatever"], "window": "5m", "count": 1}])
    with pytest.raises(ConfigError, match="alert rule 'x' in c.yaml: unknown topic 'Whatever'"):
        check_topics([r], TOPIC_LABELS, "c.yaml")


# -- the engine on synthetic streams ------------------------------------------------------------
def test_swing_fires_when_net_sentiment_turns():
    eng = AlertEngine(rules({"name": "mood", "kind": "swing", "window": "10m", "delta": 0.5, "min_posts": 5, "cooldown": "1h"}))
    bearish = [post(i, i * 60, "Bearish") for i in range(10)]  # 14:00-14:09, one a minute
    bullish = [post(100 + i, 600 + i * 60, "Bullish") for i in range(10)]  # 14:10-14:19
    alerts = run(eng, bearish + bullish)
    assert len(alerts) == 1
    a = alerts[0]
    # at 14:14 the window (14:04, 14:14] holds 5 bearish + 5 bullish (net 0), the one before 5 bearish (net -1)
    assert (a.ticker, a.rule, a.kind, a.time) == ("AAPL", "mood", "swing", T0 + timedelta(minutes=14))
    assert (a.value, a.baseline, a.posts, a.window) == (0.0, -1.0, 10, "10m")
    assert a.example_ids == ("p104", "p103", "p102", "p101", "p100")  # the latest posts of the turn, newest first
    assert list(a.to_json_dict()) == FIELDS
    assert a.to_json_dict()["time"] == "2024-03-01T14:14:00Z"


def test_swing_needs_posts_in_both_windows_and_a_big_enough_move():
    quiet = AlertEngine(rules({"name": "m", "kind": "swing", "window": "10m", "delta": 0.5, "min_posts": 5}))
    assert run(quiet, [post(i, 600 + i * 60, "Bullish") for i in range(10)]) == []  # nothing before it
    small = AlertEngine(rules({"name": "m", "kind": "swing", "window": "10m", "delta": 0.5, "min_posts": 3}))
    mixed = [post(i, i * 60, "Bullish" if i % 2 else "Neutral") for i in range(30)]  # net stays near +0.5
    assert run(small, mixed) == []


def test_volume_spike_against_the_trailing_average():
    eng = AlertEngine(rules({"name": "buzz", "kind": "volume", "window": "5m", "factor": 3, "min_posts": 6,
                             "baseline": "30m", "cooldown": "1h"}))
    calm = [post(i, i * 150) for i in range(14)]  # one post every 2.5 min: 2 per 5 min, for 35 min
    spike = [post(100 + i, 35 * 60 + i * 20) for i in range(8)]  # 8 posts in 2m40s
    alerts = run(eng, calm + spike)
    # it fires once the window holds 6 = 3 x 2 posts: the last calm one and 5 of the spike
    assert [(a.kind, a.posts, a.value, a.baseline) for a in alerts] == [("volume", 6, 6.0, 2.0)]
    assert alerts[0].example_ids == ("p104", "p103", "p102", "p101", "p100")


def test_volume_waits_until_its_trailing_period_is_seen():
    eng = AlertEngine(rules({"name": "buzz", "kind": "volume", "window": "5m", "factor": 3, "min_posts": 3, "baseline": "20m"}))
    # a burst right at the start: no history to compare with yet, so no alert
    assert run(eng, [post(i, i * 10, tickers=("TSLA",)) for i in range(20)]) == []
    # 25 minutes later (window + baseline seen) a burst about a quiet ticker fires: floor 1 x factor 3
    late = run(eng, [post(100 + i, 25 * 60 + i * 10) for i in range(5)])
    assert [(a.ticker, a.value, a.baseline) for a in late] == [("AAPL", 3.0, 0.0)]


def test_topic_burst_counts_only_the_rules_topics_and_tickers():
    eng = AlertEngine(rules({"name": "deal-talk", "kind": "topic", "tickers": ["NVDA"], "topics": ["M&A | Investments"],
                             "window": "10m", "count": 3}))
    stream = [
        post(1, 0, tickers=("NVDA",), topic="Earnings"),
        post(2, 60, tickers=("NVDA", "AMD"), topic="M&A | Investments"),
        post(3, 120, tickers=("AMD",), topic="M&A | Investments"),  # another ticker
        post(4, 180, tickers=("NVDA",), topic="M&A | Investments"),
        post(5, 240, tickers=("NVDA",), topic="Earnings"),
        post(6, 300, tickers=("NVDA",), topic="M&A | Investments"),
    ]
    alerts = run(eng, stream)
    assert [(a.ticker, a.time, a.value, a.posts) for a in alerts] == [("NVDA", T0 + timedelta(seconds=300), 3.0, 5)]
    assert alerts[0].example_ids == ("p6", "p4", "p2")


def test_cooldown_gives_one_alert_per_move_then_fires_again():
    eng = AlertEngine(rules({"name": "t", "kind": "topic", "topics": ["IPO"], "window": "10m", "count": 2, "cooldown": "30m"}))
    first = run(eng, [post(i, i * 60, topic="IPO") for i in range(10)])  # the condition holds for 9 posts
    assert [a.time for a in first] == [T0 + timedelta(minutes=1)]
    assert run(eng, [post(20 + i, 20 * 60 + i * 60, topic="IPO") for i in range(10)]) == []  # still cooling down
    again = run(eng, [post(40, 31 * 60, topic="IPO"), post(41, 31 * 60 + 30, topic="IPO")])
    assert [a.time for a in again] == [T0 + timedelta(minutes=31)]  # 30 min after the first
    # the cooldown is per ticker: TSLA fires while AAPL cools down
    other = run(eng, [post(50, 32 * 60, tickers=("TSLA",), topic="IPO"), post(51, 32 * 60 + 1, tickers=("TSLA",), topic="IPO")])
    assert [a.ticker for a in other] == ["TSLA"]


def test_batches_cut_anywhere_give_the_same_alerts():
    rng = random.Random(7)
    stream = []
    for i in range(600):
        t = rng.choice(["AAPL", "TSLA", "NVDA"])
        stream.append(post(i, i * 7 + rng.random(), rng.choice(["Bullish", "Bearish", "Neutral"]), (t,),
                           rng.choice(["IPO", "Earnings", "Markets"])))
    spec = [{"name": "m", "kind": "swing", "window": "10m", "delta": 0.4, "min_posts": 4, "cooldown": "15m"},
            {"name": "v", "kind": "volume", "window": "5m", "factor": 1.5, "min_posts": 3, "cooldown": "10m"},
            {"name": "t", "kind": "topic", "topics": ["IPO"], "window": "10m", "count": 10, "cooldown": "20m"}]
    one = AlertEngine(rules(*spec)).add_batch(stream)
    assert len(one) > 5
    eng = AlertEngine(rules(*spec))
    cut, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 50)
        cut.extend(eng.add_batch(stream[i : i + n]))
        i += n
    assert cut == one


def test_late_and_out_of_order_posts():
    eng = AlertEngine(rules({"name": "t", "kind": "topic", "topics": ["IPO"], "window": "10m", "count": 3}))
    # a post far older than any rule looks is ignored; one a little late still counts
    assert run(eng, [post(1, 3600, topic="IPO"), post(2, 0, topic="IPO"), post(3, 3590, topic="IPO")]) == []
    (a,) = run(eng, [post(4, 3580, topic="IPO")])  # late but inside the window: the third IPO post
    assert a.time == T0 + timedelta(seconds=3600) and set(a.example_ids) == {"p1", "p3", "p4"}


# -- the sink and the command hook -------------------------------------------------------------
def _topic_burst(n: int = 3) -> list[Scored]:
    return [post(i, i, tickers=("NVDA",), topic="IPO") for i in range(n)]


def test_sink_writes_json_lines_and_tells_listeners(tmp_path):
    heard = []
    out = tmp_path / "deep" / "alerts.jsonl"
    sink = AlertSink(rules({"name": "ipo", "kind": "topic", "topics": ["IPO"], "window": "1m", "count": 2, "cooldown": 0}),
                     out, listeners=[heard.append])
    sink(_topic_burst(3))
    sink.close()
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["posts"] for x in lines] == [2, 3] and all(list(x) == FIELDS for x in lines)
    assert [a.to_json_dict() for a in heard] == lines
    assert sink.summary() == "2 alerts"
    # appended, not overwritten
    sink = AlertSink(rules({"name": "ipo", "kind": "topic", "topics": ["IPO"], "window": "1m", "count": 3}), out)
    sink(_topic_burst(3))
    sink.close()
    assert len(out.read_text().splitlines()) == 3


def test_history_warms_the_engine_without_writing(tmp_path):
    out = tmp_path / "a.jsonl"
    sink = AlertSink(rules({"name": "ipo", "kind": "topic", "topics": ["IPO"], "window": "10m", "count": 2, "cooldown": "1h"}), out)
    warm = sink.warm(_topic_burst(2))
    assert len(warm) == 1 and warm[0].history
    sink(_topic_burst(4)[2:])  # same move, still cooling down since the history's alert
    sink.close()
    assert out.read_text() == "" and sink.count == 0


def test_command_hook_runs_a_real_child_per_alert(tmp_path):
    got = tmp_path / "got.jsonl"
    cmd = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'a').write(sys.stdin.read())\" {got}"
    sink = AlertSink(rules({"name": "ipo", "kind": "topic", "topics": ["IPO"], "window": "1m", "count": 2, "cooldown": 0}),
                     tmp_path / "a.jsonl", command=cmd)
    sink(_topic_burst(4))
    sink.close()  # waits for the queued commands
    assert sink.command.ran == 3 and sink.command.failed == 0
    assert got.read_text() == (tmp_path / "a.jsonl").read_text()


def test_a_failing_or_hanging_command_is_logged_and_never_fatal(tmp_path, caplog):
    a = Alert(T0, "NVDA", "ipo", "topic", 2.0, 0.0, "1m", 2, ("p1",))
    failing = CommandRunner(f"{sys.executable} -c \"import sys; sys.stderr.write('no webhook\\n'); sys.exit(3)\"")
    with caplog.at_level("WARNING", logger="finterm.alerts"):
        assert failing.run_one(a) is False
    assert failing.failed == 1 and failing.last_error == "exit 3: no webhook"
    assert "alert command for ipo NVDA failed: exit 3: no webhook" in caplog.text
    hanging = CommandRunner("sleep 30", timeout_s=0.3)
    assert hanging.run_one(a) is False and "still running after 0.3 s" in hanging.last_error
    missing = CommandRunner("/nonexistent/finterm-hook")
    assert missing.run_one(a) is False and missing.failed == 1  # the shell says 127
    for c in (failing, hanging, missing):
        c.close()
    # through the sink: the alert is still written, the run goes on
    sink = AlertSink(rules({"name": "ipo", "kind": "topic", "topics": ["IPO"], "window": "1m", "count": 2}),
                     tmp_path / "a.jsonl", command="exit 1")
    sink(_topic_burst(2))
    sink.close()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 1
    assert sink.summary() == "1 alert (command failed 1)"


# -- the real CLI ------------------------------------------------------------------------------
RULES_YAML = """
alerts:
  rules:
    - {name: mood-swing, kind: swing, tickers: "*", window: 10s, delta: 0.5, min_posts: 4, cooldown: 20s}
    - {name: buzz, kind: volume, tickers: [AAPL, TSLA], window: 5s, factor: 3, min_posts: 6, cooldown: 30s}
    - {name: deal-talk, kind: topic, tickers: "*", topics: ["M&A | Investments"], window: 10s, count: 3, cooldown: 30s}
"""


def write_replay(path: Path) -> Path:
    """40 posts within 40 s of post time (so --speed 20 takes about two seconds), made so each
    rule fires: AAPL turns from bearish to bullish, TSLA spikes, NVDA is all deal talk."""
    rows = []

    def add(sec: float, text: str) -> None:
        rows.append({"id": f"p{len(rows):03d}", "created_at": (T0 + timedelta(seconds=sec)).isoformat().replace("+00:00", "Z"),
                     "user": "u", "text": text})

    for k in range(6):
        add(k * 1.5, "$AAPL falls sell")
    for k in range(6):
        add(10 + k * 1.5, "$AAPL rally buy")
    for k in range(6):
        add(k * 5 + 0.5, "$TSLA says report")
    for k in range(10):
        add(30 + k * 0.4, "$TSLA update today")
    for k in range(4):
        add(35 + k, "$NVDA merger deal")
    for k in range(8):
        add(k * 4 + 2, "$SPY the meeting")
    rows.sort(key=lambda r: r["created_at"])
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.slow
def test_cli_alerts_are_the_same_at_any_speed(finterm, model_args, tmp_path):
    replay = write_replay(tmp_path / "replay.jsonl")
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    outs = []
    for name, speed in (("a", "max"), ("b", "max"), ("c", "20")):
        r = finterm("--replay", replay, "--speed", speed, "--headless", "--alerts", f"{name}.jsonl", "--config", "rules.yaml",
                    *model_args)
        err = r.stderr.decode()
        assert r.returncode == 0 and "Traceback" not in err, err
        assert "· 3 alerts" in err.strip().splitlines()[-1]  # the headless summary counts them
        outs.append((tmp_path / f"{name}.jsonl").read_text())
    assert outs[0] == outs[1] == outs[2]
    alerts = [json.loads(x) for x in outs[0].splitlines()]
    assert [(a["ticker"], a["rule"], a["kind"]) for a in alerts] == [
        ("AAPL", "mood-swing", "swing"), ("TSLA", "buzz", "volume"), ("NVDA", "deal-talk", "topic")]
    assert all(list(a) == FIELDS and a["example_ids"] for a in alerts)
    scored = {json.loads(x)["id"] for x in r.stdout.decode().splitlines()}
    assert all(set(a["example_ids"]) <= scored for a in alerts)


@pytest.mark.slow
def test_cli_command_hook_and_bad_rules(finterm, model_args, tmp_path):
    replay = write_replay(tmp_path / "replay.jsonl")
    hook = tmp_path / "hook.jsonl"
    (tmp_path / "hook.yaml").write_text(RULES_YAML.replace("alerts:\n", f"alerts:\n  command: 'cat >> {hook}'\n"))
    r = finterm("--replay", replay, "--speed", "max", "--headless", "--alerts", "out.jsonl", "--config", "hook.yaml", *model_args)
    assert r.returncode == 0, r.stderr.decode()
    assert hook.read_text() == (tmp_path / "out.jsonl").read_text() and len(hook.read_text().splitlines()) == 3

    (tmp_path / "failing.yaml").write_text(RULES_YAML.replace("alerts:\n", "alerts:\n  command: 'exit 4'\n"))
    r = finterm("--replay", replay, "--speed", "max", "--headless", "--config", "failing.yaml", *model_args)
    assert r.returncode == 0 and "3 alerts (command failed 3)" in r.stderr.decode()

    for text, words in (
        ("alerts:\n  rules:\n    - {name: x, kind: swing, window: -5m, delta: 0.3}\n", "alert rule 'x' in bad.yaml: 'window' must be positive"),
        ("alerts:\n  rules:\n    - {name: y, kind: boom, window: 5m}\n", "alert rule 'y' in bad.yaml: unknown kind 'boom'"),
        ("alerts:\n  rules:\n    - {name: z, kind: volume, window: 5m, factor: 2, delta: 1}\n", "alert rule 'z' in bad.yaml: unknown key 'delta'"),
        ("alerts:\n  rules:\n    - {name: w, kind: topic, window: 5m, count: 2, topics: [Mergers]}\n",
         "alert rule 'w' in bad.yaml: unknown topic 'Mergers'"),
    ):
        (tmp_path / "bad.yaml").write_text(text)
        r = finterm("--replay", replay, "--speed", "max", "--headless", "--config", "bad.yaml", *model_args)
        err = r.stderr.decode().strip()
        assert r.returncode == 2 and r.stdout == b"", err
        assert len(err.splitlines()) == 1 and err.startswith(f"finterm: {words}"), err
