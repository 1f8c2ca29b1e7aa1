"""The alerts screen, a ticker's screen and the history of a recording, through the Pilot on
the real app (only the pipeline is a double, as in test_app.py), plus snapshots at 80x24 and
200x60 (update with --snapshot-update and look at the SVGs in tests/__snapshots__/)."""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from rich.console import Console

from finterm.alerts.engine import Alert, AlertEngine
from finterm.alerts.rules import parse_rules
from finterm.config import config_from_dict
from finterm.records import SourceStatus as Status
from finterm.records import Tweet
from finterm.text import clean_text
from finterm.tui.screens.alerts import AlertsScreen, AlertTable
from finterm.tui.screens.ticker import TickerScreen
from finterm.tui.widgets import FeedView, TickerPanel
from finterm.tui.widgets.sentiment_chart import SentimentChart
from textual.widgets._footer import FooterKey

from tests.snapshots.fixture import LABELS, QueuePipeline, load_fixture, make_app

pytestmark = pytest.mark.anyio

SIZE = (160, 48)
RULES = [
    {"name": "mood-swing", "kind": "swing", "tickers": "*", "window": "10m", "delta": 0.4, "min_posts": 3, "cooldown": "15m"},
    {"name": "buzz", "kind": "volume", "tickers": "*", "window": "5m", "factor": 2, "min_posts": 4, "cooldown": "20m",
     "baseline": "15m"},
    {"name": "deal-talk", "kind": "topic", "tickers": "*", "topics": ["M&A | Investments", "Earnings"], "window": "30m",
     "count": 3, "cooldown": "1h"},
]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def config(**alerts):
    return config_from_dict({"ui": {"window_minutes": 60, "theme": "dark", "feed_max": 500}, "watchlist": ["SPY", "QQQ"],
                             "alerts": {"rules": RULES, **alerts}}, "the fixture")


def fixture_alerts(data=None) -> list[Alert]:
    return AlertEngine(parse_rules(RULES, "the fixture", LABELS["topic"])).add_batch(data or load_fixture())


def pipeline_with_alerts(data=None, ended=True) -> QueuePipeline:
    """The fixture in batches of 16, each followed by the alerts its posts raised (as the
    alerts sink puts them on the real pipeline's events)."""
    data = data or load_fixture()
    eng = AlertEngine(parse_rules(RULES, "the fixture", LABELS["topic"]))
    p = QueuePipeline([], ended=False)
    for i in range(0, len(data), 16):
        batch = data[i : i + 16]
        p.push(batch)
        for a in eng.add_batch(batch):
            p.events.put(a)
    if ended:
        p.events.put(Status("ended", position=len(data), total=len(data)))
    return p


def text_of(widget) -> str:
    """What a Static shows, as plain text (wide enough that nothing wraps)."""
    console = Console(width=400, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


async def settled(pilot) -> None:
    pilot.app.refresh_now()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


# -- alerts in the monitor --------------------------------------------------------------------
async def test_alerts_reach_the_app_with_toast_and_bell():
    app = make_app(pipeline=QueuePipeline([], ended=False), config=config())
    rings = []
    app.bell = lambda: rings.append(1)
    want = fixture_alerts()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        for a in want[:2]:  # one alert a drain: a toast each, a ring each
            app.pipeline.events.put(a)
            app.drain()
        await pilot.pause()
        toasts = [n for n in app._notifications if n.title == "Alert"]
        assert [t.message for t in toasts] == [a.headline() + "  (a: alerts)" for a in want[:2]] and rings == [1, 1]
        for a in want[2:]:  # many in one drain (a fast replay): one toast naming them, one ring
            app.pipeline.events.put(a)
        app.drain()
        await pilot.pause()
        (many,) = [n for n in app._notifications if n.title == "Alerts"]
        assert many.message.startswith(f"{len(want) - 2} alerts: ${want[-1].ticker}, ") and rings == [1, 1, 1]
        assert app.alert_log == want and len(want) >= 10
    quiet = make_app(pipeline=pipeline_with_alerts(), config=config(bell=False, toast=False))
    quiet.bell = lambda: rings.append(2)
    async with quiet.run_test(size=SIZE) as pilot:
        quiet.refresh_now()
        await pilot.pause()
        assert len(quiet.alert_log) == len(want) and 2 not in rings
        assert not [n for n in quiet._notifications if n.title in ("Alert", "Alerts")]


async def test_alerts_screen_newest_first_enter_opens_the_ticker():
    app = make_app(pipeline=pipeline_with_alerts(), config=config())
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("a")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        table = screen.query_one(AlertTable)
        assert table.row_count == len(app.alert_log)
        shown = [app.alert_log[int(table.coordinate_to_cell_key((i, 0)).row_key.value)] for i in range(table.row_count)]
        assert shown == list(reversed(app.alert_log))  # newest first
        await pilot.press("down", "down")
        chosen = screen.selected()
        assert chosen is shown[2]
        assert f"${chosen.ticker}" in str(screen.query_one("#alerts-detail").border_title)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TickerScreen) and app.screen.ticker == chosen.ticker
        await pilot.press("escape")  # back to the list, cursor where it was
        await pilot.pause()
        assert app.screen is screen and screen.selected() is chosen
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("a")  # a on the ticker's screen goes back to the list under it
        await pilot.pause()
        assert app.screen is screen and len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, (AlertsScreen, TickerScreen))
        assert app.query_one(FeedView).count == 180  # the monitor is as it was


async def test_alerts_screen_by_mouse_and_while_alerts_arrive():
    data = load_fixture()
    app = make_app(pipeline=pipeline_with_alerts(data[:90], ended=False), config=config())
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        key = next(k for k in app.screen.query(FooterKey) if k.action == "show_alerts")
        await pilot.click(key)  # the footer's Alerts key
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AlertsScreen)
        before = screen.query_one(AlertTable).row_count
        # the rest of the fixture arrives while the screen is open: the list follows
        eng = AlertEngine(parse_rules(RULES, "x", LABELS["topic"]))
        eng.add_batch(data[:90])
        later = eng.add_batch(data[90:])
        app.pipeline.push(data[90:])
        for a in later:
            app.pipeline.events.put(a)
        app.refresh_now()
        await pilot.pause()
        table = screen.query_one(AlertTable)
        assert later and table.row_count == before + len(later)
        # one click on a row opens its ticker
        await pilot.click(AlertTable, offset=(12, 4))  # the header, then rows 0, 1, 2: row 2
        await pilot.pause()
        assert isinstance(app.screen, TickerScreen)
        assert app.screen.ticker == app.alert_log[-3].ticker


async def test_alerts_screen_without_rules_says_how_to_add_them():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        await pilot.press("a")
        await pilot.pause()
        head = text_of(app.screen.query_one("#alerts-head"))
        assert "No alert rules yet" in head and "config.yaml" in head
        await pilot.press("a")  # a again closes it
        await pilot.pause()
        assert not isinstance(app.screen, AlertsScreen)


# -- a ticker's screen -----------------------------------------------------------------------
async def test_ticker_screen_shows_the_tickers_window():
    data = load_fixture()
    app = make_app(pipeline=pipeline_with_alerts(), config=config())
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        app.open_ticker("$aapl")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TickerScreen) and screen.ticker == "AAPL"
        mine = [s for s in data if "AAPL" in s.tweet.tickers]
        chart = screen.query_one(SentimentChart).data
        assert sum(b.total for b in chart.buckets) == len(mine) == 30
        assert sum(b.bullish for b in chart.buckets) == sum(s.sentiment == "Bullish" for s in mine)
        assert len(chart.buckets) * chart.step >= 60 and chart.history_end is None  # the last hour
        head = text_of(screen.query_one("#ticker-head"))
        assert "$AAPL" in head and "30 posts" in head and f"{sum(a.ticker == 'AAPL' for a in app.alert_log)} alerts" in head
        latest = app.timeline.latest("AAPL")
        assert [sc.tweet.id for sc, _ in latest] == [s.tweet.id for s in reversed(mine)]
        posts = text_of(screen.query_one("#ticker-posts-text"))
        assert mine[-1].tweet.text[:30] in posts
        topics = app.aggregator.topic_counts("AAPL")
        assert sum(topics.values()) == 30
        alerts = text_of(screen.query_one("#ticker-alerts-text"))
        assert all(a.rule in alerts for a in app.alert_log if a.ticker == "AAPL")
        meta = text_of(screen.query_one("#ticker-meta"))
        assert "replay 30" in meta and "no crowd tags" in meta
        # w: the window applies here too (15 min, then 4 h, then the whole session)
        await pilot.press("w")
        await pilot.pause()
        assert app.window_minutes == 240 and isinstance(app.screen, TickerScreen)
        await pilot.press("w")
        await pilot.pause()
        assert app.window_minutes is None
        chart = screen.query_one(SentimentChart).data
        assert sum(b.total for b in chart.buckets) == 30
        assert len(chart.buckets) * chart.step < 60  # the session (38 minutes), not an hour
        assert "whole session" in str(screen.query_one(SentimentChart).border_title)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TickerScreen)


async def test_ticker_screen_follows_new_posts():
    data = load_fixture()
    app = make_app(pipeline=QueuePipeline(data[:100], ended=False))
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        app.open_ticker("NVDA")
        await pilot.pause()
        before = sum(b.total for b in app.screen.query_one(SentimentChart).data.buckets)
        app.pipeline.push(data[100:])
        app.refresh_now()
        await pilot.pause()
        after = sum(b.total for b in app.screen.query_one(SentimentChart).data.buckets)
        assert after - before == sum("NVDA" in s.tweet.tickers for s in data[100:]) > 0


async def test_t_still_filters_and_f_filters_from_the_ticker_screen():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        tp = app.query_one(TickerPanel)
        tp.focus()
        await pilot.pause()
        await pilot.press("enter")  # the first row
        await pilot.pause()
        ticker = app.screen.ticker
        await pilot.press("f")
        await pilot.pause()
        assert app.filters.ticker == ticker and not isinstance(app.screen, TickerScreen)
        assert all(ticker in e.scored.tweet.tickers for e in app.query_one(FeedView)._view)
        await pilot.press("t", "n", "v", "d", "a", "enter")
        await pilot.pause()
        assert app.filters.ticker == "NVDA"


async def test_sources_and_crowd_agreement_where_posts_carry_them():
    if "crowd_sentiment" not in {f.name for f in dataclasses.fields(Tweet)}:
        pytest.skip("posts carry no crowd tags yet (issue 18)")
    data = load_fixture()[:60]
    tagged = []
    for i, s in enumerate(data):
        src = ("stocktwits", "bluesky")[i % 2]
        crowd = None
        if src == "stocktwits":  # authors tag Bullish or Bearish; agreeing with the model every other time
            crowd = s.sentiment if i % 4 == 0 and s.sentiment != "Neutral" else ("Bearish" if s.sentiment == "Bullish" else "Bullish")
        tagged.append(replace(s, tweet=replace(s.tweet, source=src, crowd_sentiment=crowd)))
    app = make_app(pipeline=QueuePipeline(tagged))
    ticker = "AAPL"
    mine = [s for s in tagged if ticker in s.tweet.tickers]
    crowd = [s for s in mine if s.tweet.crowd_sentiment]
    agree = sum(s.tweet.crowd_sentiment == s.sentiment for s in crowd)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        app.open_ticker(ticker)
        await pilot.pause()
        meta = text_of(app.screen.query_one("#ticker-meta"))
        assert f"stocktwits {sum(s.tweet.source == 'stocktwits' for s in mine)}" in meta
        assert f"bluesky {sum(s.tweet.source == 'bluesky' for s in mine)}" in meta
        assert crowd and f"({agree} of {len(crowd)} tagged posts)" in meta


# -- history across restarts -------------------------------------------------------------------
def record(path, scored) -> None:
    from finterm.sinks.recorder import Recorder

    rec = Recorder(path)
    rec(scored)
    rec.close()


def test_history_reads_the_last_hours_of_a_recording(tmp_path):
    from finterm.store.history import load_recent

    data = load_fixture()
    path = tmp_path / "rec.parquet"
    assert load_recent(path, 4) == []
    record(path, data)
    every = load_recent(path, 4)
    assert [s.tweet.id for s in every] == [s.tweet.id for s in data]  # recording order
    assert [(s.sentiment, s.topic, s.tweet.tickers, s.tweet.text, s.tweet.author) for s in every] == \
        [(s.sentiment, s.topic, s.tweet.tickers, clean_text(s.tweet.text), s.tweet.author) for s in data]
    newest = data[-1].tweet.created_at
    recent = load_recent(path, 0.25)
    assert recent and all(s.tweet.created_at > newest - timedelta(minutes=15) for s in recent)
    assert len(recent) == sum(s.tweet.created_at > newest - timedelta(minutes=15) for s in data)
    assert load_recent(path, 0) == []


async def test_restart_on_a_recording_brings_the_charts_back(tmp_path):
    from finterm.store.history import load_recent

    data = load_fixture()
    path = tmp_path / "rec.parquet"
    record(path, data[:120])  # the first run
    history = load_recent(path, 4)
    history_alerts = [replace(a, history=True) for a in fixture_alerts(history)]
    app = make_app(pipeline=QueuePipeline(data[120:], ended=False), config=config(), history=history,
                   history_alerts=history_alerts)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        assert app.aggregator.seen == 180 and app.timeline.history_posts == 120
        assert app.timeline.history_until == data[119].tweet.created_at
        assert app.query_one(FeedView).count == 60  # the feed is the live posts; history is in the panels
        assert app.status_info().scored == 60
        assert "from history" in str(app.query_one(FeedView).border_subtitle)
        assert app.alert_log == history_alerts and all(a.history for a in app.alert_log)
        app.open_ticker("AAPL")
        await pilot.pause()
        chart = app.screen.query_one(SentimentChart).data
        assert sum(b.total for b in chart.buckets) == 30 and chart.history_end is not None
        assert "history until" in text_of(app.screen.query_one("#ticker-head"))
        posts = app.timeline.latest("AAPL")
        assert any(h for _, h in posts) and any(not h for _, h in posts)
        await pilot.press("a")
        await pilot.pause()
        assert "from the history of the recording" in text_of(app.screen.query_one("#alerts-head"))


async def test_a_real_run_through_wiring_alerts_and_history(tmp_path, tiny_models):
    """build_run wires the alerts sink into the real pipeline; its alerts reach the screen, and a
    second run on the same recording starts with the first one's history."""
    from finterm.sources.base import SourceOptions
    from finterm.wiring import build_run
    from tests.snapshots.fixture import FIXTURE

    sent, topic = tiny_models
    rec = tmp_path / "rec.parquet"

    def cfg():
        c = config()
        c.models.sentiment, c.models.topic, c.engine, c.record = str(sent), str(topic), "onnxruntime", str(rec)
        return c

    first = build_run("replay", SourceOptions(speed=None, replay_path=FIXTURE), cfg(), alerts=str(tmp_path / "a.jsonl"))
    assert first.history == [] and first.alerts is not None
    app = make_app(pipeline=first.pipeline, config=cfg(), drain_interval=0.05, panel_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(300):
            await pilot.pause(0.05)
            if app.status_info().state == "ended" and app.aggregator.seen == 180 and not first.pipeline.running:
                break
        app.refresh_now()
        lines = (tmp_path / "a.jsonl").read_text().splitlines()
        assert lines and [a.to_json_dict() for a in app.alert_log] == [json.loads(x) for x in lines]
        await pilot.press("q")
    first.pipeline.join(timeout=10)

    second = build_run("replay", SourceOptions(speed=None, replay_path=FIXTURE), cfg())
    assert len(second.history) == 180 and second.history_alerts and all(a.history for a in second.history_alerts)
    assert [a.to_json_dict() for a in second.history_alerts] == [a.to_json_dict() for a in app.alert_log]
    for sink in second.pipeline.sinks:  # built, never started: release the recording
        sink.close()


# -- snapshots ----------------------------------------------------------------------------------
def _ticker_screen(ticker: str):
    async def run_before(pilot):
        await settled(pilot)
        pilot.app.open_ticker(ticker)
        await pilot.pause()
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


async def _alerts_screen(pilot):
    await settled(pilot)
    await pilot.press("a")
    await pilot.pause()
    await pilot.press("down", "down")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_ticker_screen_snapshot(snap_compare, size):
    app = make_app(pipeline=pipeline_with_alerts(), config=config())
    assert snap_compare(app, terminal_size=size, run_before=_ticker_screen("AAPL"))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_alerts_screen_snapshot(snap_compare, size):
    app = make_app(pipeline=pipeline_with_alerts(), config=config())
    assert snap_compare(app, terminal_size=size, run_before=_alerts_screen)


def test_ticker_screen_with_history_snapshot(snap_compare, tmp_path):
    from finterm.store.history import load_recent

    data = load_fixture()
    path = tmp_path / "rec.parquet"
    record(path, data[:120])
    history = load_recent(path, 4)
    app = make_app(pipeline=QueuePipeline(data[120:]), config=config(), history=history,
                   history_alerts=[replace(a, history=True) for a in fixture_alerts(history)])
    assert snap_compare(app, terminal_size=(120, 36), run_before=_ticker_screen("NVDA"))

