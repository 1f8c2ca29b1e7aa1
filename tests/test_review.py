"""The review screen (Pilot, real app, real tiny models, real labels file): doubt order, bulk actions, filters."""

from __future__ import annotations

import csv
from argparse import Namespace

import polars as pl
import pytest
from textual.widgets import OptionList

from finterm.config import Config
from finterm.store.labels import LabelStore, read_corrections, task_view
from finterm.tui.label_cli import score_file
from finterm.tui.review_app import ReviewApp
from finterm.tui.review_state import ScoreRange, doubt, doubt_order
from finterm.tui.screens.label_picker import LabelPickerScreen, option_id
from finterm.tui.screens.review import ReviewScreen
from finterm.tui.widgets.review_progress import ReviewProgress
from finterm.tui.widgets.review_table import ReviewTable
from tests.snapshots.fixture import load_fixture

pytestmark = pytest.mark.anyio

SIZE = (140, 40)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def replay_csv(tmp_path_factory):
    """The snapshot fixture's 180 tweets as a replay CSV (created_at, id, user, symbols, text)."""
    path = tmp_path_factory.mktemp("review") / "tweets.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["created_at", "id", "user", "symbols", "text"])
        for sc in load_fixture():
            t = sc.tweet
            w.writerow([t.created_at.isoformat(), t.id, t.author, " ".join(t.tickers), t.text])
    return path


@pytest.fixture(scope="module")
def scored(replay_csv, tiny_models):
    sent, topic = tiny_models
    args = Namespace(file=str(replay_csv), sentiment_model=str(sent), topic_model=str(topic), engine="onnxruntime")
    config = Config()
    return score_file(args, config)


def screen(app) -> ReviewScreen:
    assert isinstance(app.screen, ReviewScreen)
    return app.screen


def progress_text(app) -> str:
    return str(app.screen.query_one(ReviewProgress).render())


async def pick(pilot, task: str, label: str) -> None:
    ol = pilot.app.screen.query_one(OptionList)
    ol.highlighted = ol.get_option_index(option_id(task, label))
    await pilot.press("enter")
    await pilot.pause()


def test_scoring_a_file_gives_every_row_with_full_probabilities(scored):
    assert len(scored) == 180
    assert all(len(sc.sentiment_probs) == 3 and len(sc.topic_probs) == 20 for sc in scored)
    assert sc_margin_ok(scored[0])


def sc_margin_ok(sc) -> bool:
    top = sorted(sc.sentiment_probs.values(), reverse=True)
    return doubt(sc, "sentiment") == pytest.approx(top[0] - top[1])


def test_score_range_parsing():
    assert ScoreRange.parse("0.2-0.6") == ScoreRange(0.2, 0.6)
    assert ScoreRange.parse("20-60%") == ScoreRange(0.2, 0.6)
    assert ScoreRange.parse("-0.5") == ScoreRange(0.0, 0.5)
    assert ScoreRange.parse("") == ScoreRange()
    for bad in ("0.7-0.2", "abc", "0.5"):
        with pytest.raises(ValueError):
            ScoreRange.parse(bad)


async def test_least_certain_first_and_the_task_switch_reorders(scored, tmp_path):
    app = ReviewApp(scored, LabelStore(tmp_path / "labels.parquet"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rs = screen(app)
        table = rs.query_one(ReviewTable)
        assert table.row_count == 180
        shown = [int(table.coordinate_to_cell_key((r, 0)).row_key.value) for r in range(table.row_count)]
        margins = [doubt(scored[i], "sentiment") for i in shown]
        assert margins == sorted(margins) and margins[0] < margins[-1]
        assert "reviewed 0 / 180" in progress_text(app)
        await pilot.press("m")
        assert rs.review_task == "topic"
        shown = [int(table.coordinate_to_cell_key((r, 0)).row_key.value) for r in range(table.row_count)]
        assert shown == doubt_order(scored, "topic") != doubt_order(scored, "sentiment")
        assert "Reviewing topic" in progress_text(app)


async def test_accept_the_cursor_row_then_bulk_accept_marked_rows(scored, tmp_path):
    path = tmp_path / "labels.parquet"
    app = ReviewApp(scored, LabelStore(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rs = screen(app)
        table = rs.query_one(ReviewTable)
        first = table.cursor_index()
        await pilot.press("a")  # no marks: the row under the cursor, then the cursor moves on
        assert table.cursor_row == 1
        await pilot.press("space", "space", "space")  # mark rows 1-3
        assert len(rs.marked) == 3 and "3 marked" in progress_text(app)
        marked = set(rs.marked)
        await pilot.press("a")
        assert rs.marked == set()
        assert "reviewed 4 / 180" in progress_text(app)
    got = read_corrections(path)
    ids = {scored[i].tweet.id for i in {first} | marked}
    assert {k[0] for k in got} == ids
    for c in got.values():
        assert c.task == "sentiment" and c.label == c.model_label and c.origin == "review"
    df = pl.read_parquet(path)
    assert df.height == 4 and set(df["margin"].to_list()) == {c.margin for c in got.values()}


async def test_set_one_label_on_every_tweet_of_a_ticker(scored, tmp_path):
    path = tmp_path / "labels.parquet"
    app = ReviewApp(scored, LabelStore(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rs = screen(app)
        await pilot.press("t", "n", "v", "d", "a", "enter")
        assert rs.filters.ticker == "NVDA"
        nvda = [i for i, sc in enumerate(scored) if "NVDA" in sc.tweet.tickers]
        assert sorted(rs.shown) == nvda and len(nvda) > 3
        await pilot.press("asterisk")
        assert rs.marked == set(nvda)
        await pilot.press("l")
        assert isinstance(app.screen, LabelPickerScreen)
        await pick(pilot, "sentiment", "Neutral")
        assert f"reviewed {len(nvda)} / 180" in progress_text(app)
        assert f"Neutral {len(nvda)}" in progress_text(app)
        await pilot.press("h")  # hide reviewed: nothing of NVDA is left
        assert rs.shown == []
        await pilot.press("x")
        assert len(rs.shown) == 180
    got = read_corrections(path)
    assert {k[0] for k in got} == {scored[i].tweet.id for i in nvda}
    assert {c.label for c in got.values()} == {"Neutral"}


async def test_sentiment_and_score_filters(scored, tmp_path):
    app = ReviewApp(scored, LabelStore(tmp_path / "labels.parquet"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        rs = screen(app)
        await pilot.press("e")
        assert rs.shown and all(scored[i].sentiment == "Bullish" for i in rs.shown)
        await pilot.press("x", "r")
        await pilot.press(*"0.4-0.6", "enter")
        assert rs.scores == ScoreRange(0.4, 0.6)
        assert rs.shown and len(rs.shown) < 180
        assert all(0.4 <= task_view(scored[i], "sentiment")[1] <= 0.6 for i in rs.shown)
        assert "score 0.40–0.60" in progress_text(app)


async def test_a_correction_made_earlier_shows_and_counts(scored, tmp_path):
    from finterm.store.labels import correction_for

    path = tmp_path / "labels.parquet"
    LabelStore(path).put([correction_for(scored[5], "sentiment", "Bearish", origin="monitor")])
    app = ReviewApp(scored, LabelStore(path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "reviewed 1 / 180" in progress_text(app)
        assert screen(app).label_of(5) == "Bearish"


async def test_the_whole_tweet_under_the_cursor_is_shown_below_the_list(scored, tmp_path):
    app = ReviewApp(scored, LabelStore(tmp_path / "labels.parquet"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        rs = screen(app)
        table = rs.query_one(ReviewTable)
        from textual.widgets import Static

        from finterm.tui.render import safe

        for _ in range(3):
            sc = scored[table.cursor_index()]
            text = str(rs.query_one("#review-detail", Static).render())
            assert safe(sc.tweet.text) in text and f"{sc.tweet.created_at:%Y-%m-%d %H:%M}" in text
            await pilot.press("down")
            await pilot.pause()
