"""Correcting labels in the real monitor (Pilot): select, `l`, pick; the file and the ✎ mark; a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import polars as pl
import pytest
from textual.widgets import OptionList

from finterm.store.labels import LabelStore, read_corrections
from finterm.tui.screens.label_picker import LabelPickerScreen, option_id
from finterm.tui.widgets import FeedView
from tests.conftest import REPO
from tests.snapshots.fixture import make_app

pytestmark = pytest.mark.anyio

SIZE = (160, 48)


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def pick(pilot, task: str, label: str) -> None:
    """In the open label picker: move the highlight to (task, label) and press Enter."""
    screen = pilot.app.screen
    assert isinstance(screen, LabelPickerScreen)
    ol = screen.query_one(OptionList)
    ol.highlighted = ol.get_option_index(option_id(task, label))
    await pilot.press("enter")
    await pilot.pause()


def drawn(feed: FeedView, scored) -> str:
    e = next(e for e in feed._order if e.scored is scored)
    return "\n".join("".join(seg.text for seg in strip) for strip in feed._draw(e))


async def test_select_and_correct_sentiment_then_topic_then_replace(tmp_path):
    store = LabelStore(tmp_path / "labels.parquet")
    app = make_app(labels=store)
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        feed = app.query_one(FeedView)
        await pilot.press("down")  # selects the first tweet on screen
        await pilot.press("down")  # then the next one
        sc = feed.selected
        assert sc is feed._order[1].scored
        await pilot.press("l")
        assert isinstance(app.screen, LabelPickerScreen)
        wrong = "Bearish" if sc.sentiment != "Bearish" else "Bullish"
        await pick(pilot, "sentiment", wrong)
        assert not isinstance(app.screen, LabelPickerScreen)
        assert "✎" in drawn(feed, sc) and "✎" not in drawn(feed, feed._order[0].scored)

        await pilot.press("l")
        await pick(pilot, "topic", "IPO")
        await pilot.press("l")
        await pick(pilot, "sentiment", "Neutral")  # the same tweet again: replaces the first

    df = pl.read_parquet(tmp_path / "labels.parquet")
    assert df.height == 2
    rows = {r["task"]: r for r in df.to_dicts()}
    assert rows["sentiment"]["label"] == "Neutral" and rows["topic"]["label"] == "IPO"
    for r in rows.values():
        assert r["id"] == sc.tweet.id and r["text"] == sc.tweet.text and r["origin"] == "monitor"
        assert r["model_sentiment"] == sc.sentiment and r["sentiment_score"] == pytest.approx(sc.sentiment_score)
        assert r["time"] is not None
    assert rows["topic"]["model_label"] == sc.topic


async def test_l_without_a_selection_corrects_the_top_tweet_and_escape_saves_nothing(tmp_path):
    path = tmp_path / "labels.parquet"
    app = make_app(labels=LabelStore(path))
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        feed = app.query_one(FeedView)
        await pilot.press("l")
        assert feed.selected is feed._order[0].scored
        await pilot.press("escape")
        assert not path.exists()
        await pilot.press("l")
        await pick(pilot, "topic", "Macro")
    assert read_corrections(path)[(feed._order[0].scored.tweet.id, "topic")].label == "Macro"


async def test_earlier_corrections_mark_tweets_in_a_new_session(tmp_path):
    path = tmp_path / "labels.parquet"
    app = make_app(labels=LabelStore(path))
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        await pilot.press("l")
        await pick(pilot, "sentiment", "Bearish")
        first = app.query_one(FeedView).selected

    config = make_app().config
    config.labels_file = str(path)  # the config key names the file
    again = make_app(config=config)
    async with again.run_test(size=SIZE) as pilot:
        again.refresh_now()
        await pilot.pause()
        feed = again.query_one(FeedView)
        assert feed.corrections == {first.tweet.id: {"sentiment": "Bearish"}}
        assert "✎ ▼ Bear" in drawn(feed, feed._order[0].scored)


KILLED = textwrap.dedent("""
    import asyncio, sys
    from finterm.store.labels import LabelStore
    from finterm.tui.screens.label_picker import option_id
    from textual.widgets import OptionList
    from tests.snapshots.fixture import make_app

    async def main():
        app = make_app(labels=LabelStore(sys.argv[1]))
        async with app.run_test(size=(160, 48)) as pilot:
            app.refresh_now()
            await pilot.pause()
            for i in range(1000):
                await pilot.press("l")
                ol = app.screen.query_one(OptionList)
                label = ("Bearish", "Bullish", "Neutral")[i % 3]
                ol.highlighted = ol.get_option_index(option_id("sentiment", label))
                await pilot.press("enter", "down")
                await pilot.pause()
                print(i, app.query_one("#feed").corrections and label, flush=True)
    asyncio.run(main())
""")


def test_corrections_made_in_the_app_survive_sigkill(tmp_path):
    path = tmp_path / "labels.parquet"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FINTERM_LOG": str(tmp_path / "log")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, env=env, text=True,
                            cwd=REPO)
    acked: list[str] = []
    try:
        for line in proc.stdout:
            acked.append(line.split()[1])
            if len(acked) >= 12:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert len(acked) >= 12, "the app never got going"
    got = read_corrections(path)
    # tweets were corrected top-down, one each; the first 12 are all there with their labels
    labels = [c.label for c in got.values()]
    assert labels[:12] == acked
    assert all(c.origin == "monitor" and c.model_label for c in got.values())
    if path.exists():  # folded every COMPACT_EVERY corrections; the journal holds the rest
        pl.read_parquet(path)  # the parquet file alone is whole


async def test_a_click_selects_the_tweet_under_it(tmp_path):
    app = make_app(labels=LabelStore(tmp_path / "labels.parquet"))
    async with app.run_test(size=SIZE) as pilot:
        app.refresh_now()
        await pilot.pause()
        feed = app.query_one(FeedView)
        assert feed.selected is None
        await pilot.click(FeedView, offset=(40, feed._offsets[2] + 1))  # the body of the third tweet
        assert feed.selected is feed._order[2].scored
        await pilot.press("up")
        assert feed.selected is feed._order[1].scored
