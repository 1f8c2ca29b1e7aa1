"""Snapshots of the real app on the fixed fixture (tests/snapshots/fixture.jsonl) and a fixed clock.

Update after an intended change with `pytest tests/test_app_snapshots.py --snapshot-update`
and look at the SVGs (tests/__snapshots__/test_app_snapshots/) before committing them.
"""

from __future__ import annotations

from tests.snapshots.fixture import make_app


async def _settled(pilot) -> None:
    pilot.app.refresh_now()
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


def test_main_screen_wide(snap_compare):
    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=_settled)


def test_main_screen_small(snap_compare):
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=_settled)


def test_help_screen(snap_compare):
    async def run_before(pilot):
        await _settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=run_before)


def test_filtered_with_scores_light(snap_compare):
    async def run_before(pilot):
        await _settled(pilot)
        pilot.app.action_filter_ticker("AAPL")
        await pilot.press("e", "s", "c")  # bullish only, scores shown, light colors
        await pilot.pause()
        pilot.app.refresh_now()  # the panels' own tick, which never fires here
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=run_before)
