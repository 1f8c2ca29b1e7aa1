"""Pilot drives the real FintermApp: every key binding, every filter, pause, help, quit, errors.

The pipeline is a queue-fed double with the contract's shape (tests/snapshots/fixture.py);
every widget is the real one.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from finterm.tui.app import FintermApp
from finterm.tui.filters import Filters
from finterm.tui.screens import HelpScreen, TickerFilterScreen, TopicPickerScreen
from finterm.tui.screens.ticker import TickerScreen
from finterm.tui.widgets import FeedView, StatusBar, TickerPanel, TopicHistogram
from finterm.records import PipelineFailed
from finterm.records import SourceStatus as Status
from tests.snapshots.fixture import QueuePipeline, fixture_config, load_fixture, make_app

pytestmark = pytest.mark.anyio  # anyio's pytest plugin runs the async tests on asyncio


@pytest.fixture
def anyio_backend():
    return "asyncio"

SIZE = (160, 48)


def feed_items(app: FintermApp):
    return [e.scored for e in app.query_one(FeedView)._view]


def screen_text(app: FintermApp) -> str:
    """What the feed draws, as plain text (every line of every entry)."""
    feed = app.query_one(FeedView)
    return "\n".join("".join(seg.text for seg in strip) for e in feed._order for strip in feed._draw(e))


async def started(pilot):
    pilot.app.refresh_now()
    await pilot.pause()


async def test_starts_pipeline_and_shows_final_state():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.pipeline.started
        assert app.query_one(FeedView).count == 180
        info = app.status_info()
        assert info.state == "ended" and info.is_replay and info.position == 180
        assert info.p50 is not None and info.p99 >= info.p50
        assert any("Replay finished" in n.message for n in app._notifications)
        tp = app.query_one(TickerPanel)
        assert tp.row_count == 13  # 12 tickers seen (SPY among them) + QQQ from the watchlist
        assert [tp.coordinate_to_cell_key((i, 0)).row_key.value for i in (0, 1)] == ["SPY", "QQQ"]
        assert sum(app.query_one(TopicHistogram).counts.values()) == 180
        # newest first: the first entry is the last tweet of the file
        assert app.query_one(FeedView)._order[0].scored.tweet.id == "500000000000000179"


async def test_untrusted_text_is_literal():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        text = screen_text(app)
        assert "[bold red]FAKE ALERT[/]" in text
        assert "\x1b" not in text and "\x07" not in text


async def test_ticker_filter_by_typing_with_completion():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("t")
        assert isinstance(app.screen, TickerFilterScreen)
        await pilot.press("a", "a")
        await pilot.press("enter")  # "AA" is not a ticker seen: the first match, AAPL
        assert app.filters.ticker == "AAPL"
        items = feed_items(app)
        assert items and all("AAPL" in sc.tweet.tickers for sc in items)
        assert app.query_one(TopicHistogram).scope == "AAPL"
        assert app.status_info().filters.ticker == "AAPL"
        # tab accepts the suggestion
        await pilot.press("t")
        inp = app.screen.query_one("#ticker-input")
        inp.value = ""
        await pilot.press("n", "v", "tab")
        assert inp.value.upper() == "NVDA"
        await pilot.press("escape")
        assert app.filters.ticker == "AAPL"


async def test_ticker_row_opens_its_screen_where_f_filters():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tp = app.query_one(TickerPanel)
        tp.focus()
        await pilot.pause()
        tp.move_cursor(row=2)
        await pilot.pause()
        want = tp.current_ticker()
        assert app.query_one(TopicHistogram).scope == want  # the histogram follows the selected row
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TickerScreen) and app.screen.ticker == want
        assert app.filters.ticker is None  # opening a ticker is not filtering by it
        await pilot.press("f")  # the ticker's screen filters the feed by it and goes back
        await pilot.pause()
        assert not isinstance(app.screen, TickerScreen) and app.filters.ticker == want
        # clicking a row opens that ticker's screen; Esc goes back
        await pilot.click(TickerPanel, offset=(3, 5))
        await pilot.pause()
        assert isinstance(app.screen, TickerScreen) and app.screen.ticker == tp.current_ticker() != want
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TickerScreen) and app.filters.ticker == want


async def test_click_on_histogram_and_topic_picker():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.click(TopicHistogram, offset=(4, 6))  # row 5 of the bars: Earnings
        await pilot.pause()
        assert app.filters.topic == "Earnings"
        assert all(sc.topic == "Earnings" for sc in feed_items(app))
        await pilot.press("p")
        assert isinstance(app.screen, TopicPickerScreen)
        await pilot.press("home", "down", "enter")  # All topics, then Analyst Update
        assert app.filters.topic == "Analyst Update"
        await pilot.press("p", "home", "enter")
        assert app.filters.topic is None
        await pilot.press("p", "escape")
        assert app.filters.topic is None and not isinstance(app.screen, TopicPickerScreen)


async def test_click_on_cashtag_in_feed():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        # first entry: "$MSFT falls ..." on its second line; the bar is 2 cells, plus padding and border
        await pilot.click(FeedView, offset=(5, 2))
        await pilot.pause()
        assert app.filters.ticker == "MSFT"


async def test_sentiment_cycle_and_clear():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        seen = []
        for _ in range(4):
            await pilot.press("e")
            seen.append(app.filters.sentiment)
            if app.filters.sentiment:
                assert all(sc.sentiment == app.filters.sentiment for sc in feed_items(app))
        assert seen == ["Bullish", "Bearish", "Neutral", None]
        await pilot.press("e")
        app.action_filter_ticker("TSLA")
        app.action_filter_topic("Macro")
        await pilot.pause()
        assert app.filters == Filters("TSLA", "Macro", "Bullish")
        assert all(sc.sentiment == "Bullish" and sc.topic == "Macro" and "TSLA" in sc.tweet.tickers for sc in feed_items(app))
        await pilot.press("x")
        assert app.filters == Filters() and app.query_one(FeedView).count == 180


async def test_filtered_view_keeps_collecting():
    app = make_app(pipeline=QueuePipeline(load_fixture()[:50], ended=False))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.action_filter_ticker("AAPL")
        before = app.query_one(FeedView).count
        rest = load_fixture()[50:]
        app.pipeline.push(rest)
        app.refresh_now()
        assert app.query_one(FeedView).count == before + sum("AAPL" in s.tweet.tickers for s in rest)


async def test_pause_holds_display_and_drops_nothing():
    data = load_fixture()
    app = make_app(pipeline=QueuePipeline(data[:100], ended=False))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("space")
        assert app.paused and app.status_info().paused
        app.pipeline.push(data[100:])
        app.refresh_now()
        assert app.query_one(FeedView).count == 100  # display held
        assert app.aggregator.seen == 180  # scoring and counting went on
        assert app.status_info().held == 80
        await pilot.press("space")
        assert not app.paused
        assert app.query_one(FeedView).count == 180


async def test_replay_speed_keys():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        src = app.pipeline.source
        await pilot.press("plus")
        assert src.speed == 2
        await pilot.press("plus", "plus")
        assert src.speed == 10
        await pilot.press("minus")
        assert src.speed == 5
        src.speed = None
        await pilot.press("plus")
        assert src.speed is None  # max stays max
        await pilot.press("minus")
        assert src.speed == 1000
        assert app.status_info().speed == 1000


async def test_speed_on_live_source_says_so():
    class Live:
        name = "live"

        def describe(self):
            return "X filtered stream"

    app = make_app(pipeline=QueuePipeline(load_fixture()[:10], source=Live()))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("plus")
        assert any("replays only" in n.message for n in app._notifications)
        assert app.status_info().kind == "live"


async def test_window_sort_scores_order_theme():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.window_minutes == 60
        await pilot.press("w")
        assert app.window_minutes == 240 and app.aggregator.window_minutes == 240
        await pilot.press("w")
        assert app.window_minutes is None
        await pilot.press("w")
        assert app.window_minutes == 15
        assert app.aggregator.total < 180  # the fixture spans 38 minutes
        assert app.status_info().window == "15 min"
        tp = app.query_one(TickerPanel)
        await pilot.press("o")
        assert tp.sort == "net"
        nets = [app.aggregator.ticker(tp.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(2, tp.row_count)]
        assert [s.net for s in nets] == sorted((s.net for s in nets), reverse=True)
        await pilot.press("o")
        assert tp.sort == "name"
        await pilot.press("o")
        assert tp.sort == "activity"
        await pilot.press("s")
        assert app.query_one(FeedView).show_scores
        assert "%" in screen_text(app)
        await pilot.press("n")
        feed = app.query_one(FeedView)
        assert not feed.newest_first and feed._order[-1].scored.tweet.id == "500000000000000179"
        theme = app.theme
        await pilot.press("c")
        assert app.theme != theme and app.theme.startswith("finterm-")


async def test_help_screen_and_command_palette():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for t in ("Filter by ticker", "Filter by topic", "Pause / resume", "Change window", "Clear filters"):
            assert t in titles


async def test_quit_stops_pipeline():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.pipeline.stopped
    assert app.return_code in (0, None)


async def test_reconnecting_says_when():
    p = QueuePipeline([], ended=False)
    p.events.put(Status("reconnecting", detail="HTTP 503", next_retry_at=time.time() + 30))
    app = make_app(pipeline=p)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        info = app.status_info()
        assert info.state == "reconnecting" and "HTTP 503; retry in" in info.detail


async def test_errors_are_notifications_not_tracebacks():
    p = QueuePipeline(load_fixture()[:20], ended=False)
    p.events.put(Status("reconnecting", detail="stream dropped", next_retry_at=time.time() + 30))
    p.events.put(Status("error", detail="401 Unauthorized: check X_BEARER_TOKEN [bold]x[/]"))
    p.events.put(PipelineFailed("model folder assets/models/topic is missing"))

    class Broken(QueuePipeline):
        def start(self):
            raise RuntimeError("no credentials")

    app = make_app(pipeline=p)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        msgs = [n.message for n in app._notifications]
        assert any("401 Unauthorized" in m and "[bold]x[/]" in m for m in msgs)
        assert any("stream dropped" in m for m in msgs)
        assert any("model folder" in m for m in msgs)
        assert "model folder" in app.status_info().error
        assert app.is_running
    app2 = make_app(pipeline=Broken(load_fixture()[:5]))
    async with app2.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert any("no credentials" in n.message for n in app2._notifications)
        assert app2.query_one(FeedView).count == 5


async def test_feed_is_bounded_and_drain_is_bounded():
    data = load_fixture()
    many = []
    for k in range(30):  # 5,400 tweets
        many.extend(replace(s, tweet=replace(s.tweet, id=f"{k}-{s.tweet.id}")) for s in data)
    cfg = fixture_config(feed_max=200)
    app = make_app(pipeline=QueuePipeline(many, batch=32, ended=False), config=cfg)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        took = app.drain(max_items=51)  # one tick's worth: the status, then 50 batches
        assert took == 50 * 32
        app.refresh_now()
        assert app.query_one(FeedView).count == 200
        assert app.aggregator.seen == 5400


async def test_timers_drain_on_their_own():
    app = make_app(drain_interval=0.05, panel_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(40):
            await pilot.pause(0.05)
            if app.query_one(FeedView).count == 180 and app.query_one(TickerPanel).row_count:
                break
        assert app.query_one(FeedView).count == 180
        assert app.query_one(TickerPanel).row_count == 13
        assert app.query_one(StatusBar).info.state == "ended"


async def test_click_on_topic_tag_in_feed():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        # first entry's header: "15:08:00 ▼ Bear  Currencies  @WSJmarkets"; the tag starts at cell 16
        await pilot.click(FeedView, offset=(2 + 2 + 18, 1))
        await pilot.pause()
        assert app.filters.topic == "Currencies"


async def test_reading_position_kept_while_tweets_arrive():
    data = load_fixture()
    app = make_app(pipeline=QueuePipeline(data[:120], ended=False))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        feed = app.query_one(FeedView)
        feed.scroll_to(y=30, animate=False, immediate=True)
        await pilot.pause()
        top_entry = feed._order[feed._offsets.index(30)] if 30 in feed._offsets else None
        app.pipeline.push(data[120:130])
        app.refresh_now()
        await pilot.pause()
        assert feed.scroll_y > 30  # moved down by what arrived above
        if top_entry is not None:
            assert feed._offsets[feed._order.index(top_entry)] == feed.scroll_y
        feed.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        app.pipeline.push(data[130:140])
        app.refresh_now()
        await pilot.pause()
        assert feed.scroll_y == 0  # at the top, the newest stay in view


async def test_newest_last_follows_the_end():
    app = make_app(pipeline=QueuePipeline(load_fixture()[:100], ended=False), config=fixture_config(newest_first=False))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        feed = app.query_one(FeedView)
        assert not feed.newest_first
        feed.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        app.pipeline.push(load_fixture()[100:120])
        app.refresh_now()
        await pilot.pause()
        assert feed.scroll_y == feed.max_scroll_y


async def test_real_classifier_scoring_off_the_ui_thread(tmp_path):
    """Real ONNX models (tests/modelkit) score in a worker thread at 300 tweets/s; keys answer."""
    import threading

    from finterm.engine.classifier import Classifier
    from tests.modelkit import make_sentiment_folder, make_topic_folder
    from tests.snapshots.fixture import ThreadPipeline

    clf = Classifier(make_sentiment_folder(tmp_path / "s"), make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    tweets = [s.tweet for s in load_fixture()] * 5  # 900 tweets
    pipe = ThreadPipeline(clf, tweets, per_s=300)
    app = make_app(pipeline=pipe, drain_interval=0.05, panel_interval=0.25)
    spent = []
    set_filters = app.set_filters

    def counted(f):
        set_filters(f)
        spent.append(f)

    app.set_filters = counted
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        for key in ("e", "e", "e", "x"):
            await pilot.press(key)
        assert app.filters == Filters()
        assert len(spent) == 4  # how long each took is bench/'s business, not a test's
        for _ in range(200):
            await pilot.pause(0.05)
            if app.status_info().state == "ended" and app.aggregator.seen == 900:
                break
        app.refresh_now()
        assert app.aggregator.seen == 900
        assert app.query_one(FeedView).count == 500  # feed_max of the fixture config
        assert threading.current_thread().name not in pipe.scoring_threads
        assert {sc.sentiment for sc in feed_items(app)} <= {"Bearish", "Bullish", "Neutral"}
    assert pipe._stop.is_set()


async def test_config_shapes():
    from finterm.config import config_from_dict

    cfg = config_from_dict({"ui": {"window_minutes": "session", "newest_first": False, "theme": "light", "feed_max": 50},
                            "watchlist": "$aapl, tsla AAPL"})
    app = make_app(config=cfg)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.window_minutes is None and app.status_info().window == "session"
        assert app.watchlist == ["AAPL", "TSLA"]
        assert app.theme == "finterm-light"
        assert app.query_one(FeedView).count == 50 and not app.query_one(FeedView).newest_first
    app = make_app(config=config_from_dict({"ui": {"window_minutes": 30}}))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert app.window_minutes == 30 and app.windows == [15, 30, 60, 240, None]
        await pilot.press("w")
        assert app.window_minutes == 60


async def test_ticker_panel_caps_rows():
    data = load_fixture()
    many = [replace(s, tweet=replace(s.tweet, tickers=(f"T{i:03d}",))) for i, s in enumerate(data)]
    app = make_app(pipeline=QueuePipeline(many))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tp = app.query_one(TickerPanel)
        assert tp.row_count == tp.max_rows == 150  # SPY and QQQ pinned + the 148 most active
        assert "top 148 of 180" in str(tp.border_title)


async def test_real_pipeline_and_replay_source(tmp_path):
    """The real Pipeline and ReplaySource over the fixture file, real ONNX models (tests/modelkit)."""
    pipeline_mod = pytest.importorskip("finterm.pipeline.runner")
    replay_mod = pytest.importorskip("finterm.sources.replay")
    from finterm.engine.classifier import Classifier
    from tests.modelkit import make_sentiment_folder, make_topic_folder
    from tests.snapshots.fixture import FIXTURE

    clf = Classifier(make_sentiment_folder(tmp_path / "s"), make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    source = replay_mod.ReplaySource(FIXTURE, speed=None)
    pipe = pipeline_mod.Pipeline(source, clf, batch_size=16, max_wait_ms=20)
    app = make_app(pipeline=pipe, drain_interval=0.05, panel_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if app.status_info().state == "ended" and app.aggregator.seen == 180:
                break
        app.refresh_now()
        info = app.status_info()
        assert info.state == "ended" and info.is_replay and info.position == info.total == 180
        assert app.query_one(FeedView).count == 180
        assert "[bold red]FAKE ALERT[/]" in screen_text(app) and "\x1b" not in screen_text(app)
        await pilot.press("minus")
        assert source.speed == 1000
        await pilot.press("q")
    assert pipe.stopping


async def test_command_palette_runs_our_commands():
    from textual.command import CommandList, CommandPalette

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.action_filter_ticker("AAPL")
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"clear filters")
        for _ in range(60):  # the palette searches asynchronously
            await pilot.pause(0.05)
            found = app.screen.query_one(CommandList)
            if found.option_count and found.highlighted is not None:
                break
        assert "Clear filters" in str(found.get_option_at_index(found.highlighted).prompt)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.filters == Filters()


@pytest.mark.parametrize("width", [160, 100])
async def test_status_bar_names_engine_and_both_models(tmp_path, width):
    """Line 2 gives the engine and both models (one name for the pair) the room the filters leave."""
    import json

    from rich.console import Console

    from finterm.engine.classifier import Classifier
    from tests.modelkit import make_sentiment_folder, make_topic_folder
    from tests.snapshots.fixture import ThreadPipeline

    folders = make_sentiment_folder(tmp_path / "s"), make_topic_folder(tmp_path / "t")
    for folder, task in zip(folders, ("sentiment", "topic")):
        cfg = json.loads((folder / "config.json").read_text())
        cfg["finterm_name"] = f"finterm-{task}-minilm-sparse-int8"
        (folder / "config.json").write_text(json.dumps(cfg))
    clf = Classifier(*folders, engine="onnxruntime")
    app = make_app(pipeline=ThreadPipeline(clf, [s.tweet for s in load_fixture()][:20], per_s=100))
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause(0.3)
        app.refresh_now()
        bar = app.query_one(StatusBar)
        console = Console(width=width, record=True, file=open("/dev/null", "w"))
        console.print(bar.render())
        line2 = console.export_text().splitlines()[1]
        assert "onnxruntime · sentiment+topic minilm-sparse-int8" in line2, line2
        assert "filters" in line2 and "window" in line2


async def test_live_x_stream_in_the_ui_scores_every_tweet_once(tmp_path):
    """The real tweepy client against the local X server, through the real Pipeline into the UI:
    a garbled line, a dropped connection and tweets resent after the reconnect; each tweet once."""
    from finterm.engine.classifier import Classifier
    from finterm.pipeline.runner import Pipeline
    from finterm.sources.x.stream import XStreamSource
    from tests.modelkit import make_sentiment_folder, make_topic_folder
    from tests.test_xstream import TOKEN, fast_settings
    from tests.xserver import Stream, XServer, drop, garbled, hold, tweet

    clf = Classifier(make_sentiment_folder(tmp_path / "s"), make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    script = [Stream([tweet(1), tweet(2), garbled(), tweet(3), drop()]),
              Stream([tweet(2), tweet(3), tweet(4), tweet(5), hold()])]  # 2 and 3 resent
    with XServer(token=TOKEN, stream_script=script) as server:
        for i, text in enumerate(["$AAPL beats earnings, shares up", "$TSLA falls on delivery miss",
                                  "Fed meeting today $AAPL", "$TSLA rally", "$AAPL $TSLA both down"], 1):
            server.publish(i, text, username=f"user{i}")
        pipe = Pipeline(XStreamSource(fast_settings(server)), clf, batch_size=8, max_wait_ms=10)
        app = make_app(pipeline=pipe, drain_interval=0.05, panel_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(300):
                await pilot.pause(0.05)
                if app.aggregator.seen >= 5:
                    break
            await pilot.pause(0.3)  # a resent tweet, if it slipped through, would show by now
            app.refresh_now()
            assert app.aggregator.seen == 5
            ids = [s.tweet.id for s in feed_items(app)]
            assert sorted(ids) == ["1", "2", "3", "4", "5"]
            info = app.status_info()
            assert info.kind == "x" and info.state == "live"
            assert TOKEN not in info.source + info.detail
            await pilot.press("q")
        assert pipe.stopping
        pipe.join(timeout=10)
