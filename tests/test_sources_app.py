"""The Pilot drives the real app over the live sources: Bluesky (a local Jetstream WebSocket
server) and StockTwits (a local HTTP server) merged through the real Pipeline, with tiny real
models; and the new screen parts (source marks, links, deletes, crowd agreement, each source's
status) over the queue-fed double, where the numbers are known."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from finterm.records import PostDeleted, Scored, make_tweet
from finterm.records import SourceStatus as Status
from finterm.tui.widgets import FeedView, StatusBar, TickerPanel
from tests.snapshots.fixture import FIXED_CLOCK, QueuePipeline, make_app

pytestmark = pytest.mark.anyio

SIZE = (160, 48)
HOSTILE = "$AMD [bold red]FAKE ALERT[/] \x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def screen_text(app) -> str:
    feed = app.query_one(FeedView)
    return "\n".join("".join(seg.text for seg in strip) for e in feed._order for strip in feed._draw(e))


def bar_text(app) -> str:
    bar = app.query_one(StatusBar)
    lines = app.console.render_lines(bar.render(), app.console.options.update_width(SIZE[0]))
    return "\n".join("".join(seg.text for seg in line) for line in lines)


class LiveSourceDouble:
    name = "bluesky+stocktwits"
    live = True

    def describe(self) -> str:
        return "Bluesky · StockTwits"


def scored(i: int, source: str, sentiment: str, crowd: str | None, tickers=("AAPL",), text: str | None = None) -> Scored:
    url = (f"https://stocktwits.com/u{i}/message/{i}" if source == "stocktwits"
           else f"https://bsky.app/profile/did:plc:x/post/p{i}")
    tw = make_tweet(f"at://did:plc:x/app.bsky.feed.post/p{i}" if source == "bluesky" else str(i),
                    FIXED_CLOCK - timedelta(minutes=1), f"u{i}", text or f"${tickers[0]} post {i}", tickers=tickers,
                    source=source, url=url, crowd_sentiment=crowd)
    return Scored(tw, sentiment, 0.9, "Stock Commentary", 0.8, batch_latency_ms=3.0)


async def test_marks_links_deletes_crowd_and_each_sources_state():
    batch = [
        scored(1, "stocktwits", "Bullish", "Bullish"),
        scored(2, "stocktwits", "Bearish", "Bullish"),
        scored(3, "stocktwits", "Bearish", "Bearish", tickers=("TSLA",)),
        scored(4, "bluesky", "Neutral", None, text=HOSTILE, tickers=("AMD",)),
        scored(5, "bluesky", "Bullish", None),
    ]
    pipe = QueuePipeline(batch, ended=False, source=LiveSourceDouble())
    parts = (Status("live", source="bluesky", attempt=2),
             Status("rate_limited", "StockTwits asked to wait", next_retry_at=FIXED_CLOCK.timestamp() + 90, source="stocktwits"))
    pipe.events.put(Status("live", "bluesky live · stocktwits rate_limited", parts=parts))
    app = make_app(pipeline=pipe)
    opened = []
    app.open_url = lambda url, **kw: opened.append(url)
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        text = screen_text(app)
        assert "stwt" in text and "bsky" in text  # each line's source mark
        assert "crowd ▲ Bull" in text and "crowd ▼ Bear" in text
        assert "[bold red]FAKE ALERT[/]" in text and "\x1b" not in text and "\u202e" not in text

        tp = app.query_one(TickerPanel)
        assert tp.crowd_cell("AAPL") == "50% 2" and tp.crowd_cell("TSLA") == "100% 1" and tp.crowd_cell("AMD") == "–"
        assert tp.border_subtitle == "model agrees with the crowd 67% of 3"
        assert app.aggregator.crowd().agree == 2

        info = app.status_info()
        assert [p.source for p in info.sources] == ["bluesky", "stocktwits"]
        bar = bar_text(app)
        assert "BLUESKY" in bar and "STOCKTWITS" in bar and "rate-limited until 09:31:30" in bar, bar

        # the selected post's link is shown under it; u opens it
        feed = app.query_one(FeedView)
        feed.focus()
        await pilot.press("down")
        sel = feed.selected
        assert sel is not None and sel.tweet.url in screen_text(app) and "u opens" in screen_text(app)
        await pilot.press("u")
        assert opened == [sel.tweet.url]

        # a delete takes its post off the feed (the counts keep it)
        before = feed.count
        pipe.events.put(PostDeleted("bluesky", "at://did:plc:x/app.bsky.feed.post/p5"))
        pipe.events.put(PostDeleted("bluesky", "at://did:plc:x/app.bsky.feed.post/never-seen"))
        app.refresh_now()
        await pilot.pause()
        assert feed.count == before - 1
        assert "at://did:plc:x/app.bsky.feed.post/p5" not in {e.scored.tweet.id for e in feed._view}
        assert app.aggregator.seen == 5

        # one source stopping is said, and the other goes on
        stopped = (parts[0], Status("error", "StockTwits refused finterm's request (HTTP 403)", source="stocktwits"))
        pipe.events.put(Status("live", "", parts=stopped))
        app.refresh_now()
        await pilot.pause()
        assert "stopped: StockTwits refused" in bar_text(app)
        assert any("stocktwits stopped" in n.message and "other sources go on" in n.message for n in app._notifications)


async def test_a_post_without_a_link_says_so():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        await pilot.press("u")
        assert any("no link" in n.message for n in app._notifications)


async def test_live_bluesky_and_stocktwits_merged_in_the_ui(tmp_path):
    """The real clients against local servers, through the real Pipeline into the UI: a dropped
    Jetstream connection and resumed cursor, a delete, StockTwits' crowd tags; then StockTwits'
    server dies and Bluesky goes on flowing."""
    from finterm.engine.classifier import Classifier
    from finterm.pipeline.runner import Pipeline
    from finterm.sources.bluesky.source import BlueskySettings, BlueskySource
    from finterm.sources.merged import MergedSource
    from finterm.sources.stocktwits.source import StocktwitsSettings, StocktwitsSource
    from tests.jetstream_server import Conn, JetstreamServer, delete, identity, post
    from tests.modelkit import make_sentiment_folder, make_topic_folder
    from tests.stocktwits_server import StocktwitsServer

    clf = Classifier(make_sentiment_folder(tmp_path / "s"), make_topic_folder(tmp_path / "t"), engine="onnxruntime")
    events = [identity(), post("a", "$AAPL up"), post("b", HOSTILE), delete("a"), post("c", "$NVDA rips"),
              post("d", "no cashtag"), post("e", "$SPY dips")]
    later = [post(f"z{i}", f"$QQQ later {i}") for i in range(5)]
    with JetstreamServer(events + later, [Conn(4, "drop"), Conn(3, "drop"), Conn(None, "hold", pace_s=0.05)]) as js, \
            StocktwitsServer() as st:
        st.publish(1, "$AAPL crowd says up", symbols=("AAPL",), sentiment="Bullish")
        st.publish(2, "$AAPL crowd says down", symbols=("AAPL",), sentiment="Bearish")
        bsky = BlueskySource(BlueskySettings(url=js.url, backoff_initial_s=0.05, rewind_s=0.25))
        stwt = StocktwitsSource(StocktwitsSettings(api_base=st.api_base, requests_per_hour=36_000, symbols=["AAPL"],
                                                   backoff_initial_s=0.05))
        pipe = Pipeline(MergedSource([bsky, stwt]), clf, batch_size=8, max_wait_ms=10)
        app = make_app(pipeline=pipe, drain_interval=0.05, panel_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            async def wait_for(cond, seconds=30.0):
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and not cond():
                    await pilot.pause(0.05)
                app.refresh_now()
                return cond()

            # a, b, c, e from Bluesky (a then deleted), 1 and 2 from StockTwits
            assert await wait_for(lambda: app.aggregator.seen >= 6 and pipe.deleted >= 1)
            ids = {e.scored.tweet.id for e in app.query_one(FeedView)._view}
            assert "1" in ids and "2" in ids and not any(i.endswith("/a") for i in ids)
            assert any(i.endswith("/b") for i in ids) and "[bold red]FAKE ALERT[/]" in screen_text(app)
            assert app.aggregator.crowd().total == 2
            info = app.status_info()
            assert {p.source: p.state for p in info.sources} == {"bluesky": "live", "stocktwits": "live"}
            assert bsky.reconnects >= 1

            st.stop()  # StockTwits goes away; Bluesky keeps flowing (its third connection paces 5 more)
            assert await wait_for(lambda: app.aggregator.seen >= 11)
            assert await wait_for(lambda: {p.source: p.state for p in app.status_info().sources}.get("stocktwits")
                                  == "reconnecting")
            assert app.status_info().sources[0].state == "live"
            seen = [e.scored.tweet.id for e in app.query_one(FeedView)._all]
            assert len(seen) == len(set(seen))  # nothing twice
            await pilot.press("q")
        pipe.join(timeout=10)
