"""Falling behind is visible (issue 22): the status bar shows the posts waiting and how long the
oldest has waited once scoring is behind; a replay at max speed (a full queue by design) and a
short wait show nothing. Pilot over the real app and status bar; the pipeline is a double."""

from __future__ import annotations

import pytest

from finterm.pipeline.runner import Backlog
from finterm.tui.widgets import StatusBar
from tests.snapshots.fixture import QueuePipeline, ReplaySourceDouble, load_fixture, make_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Behind(QueuePipeline):
    def __init__(self, backlog: Backlog, speed: float | None = 1.0):
        super().__init__(load_fixture(), source=ReplaySourceDouble(speed=speed))
        self.now = backlog

    def backlog(self) -> Backlog:
        return self.now


def bar_text(app) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None)
    console.print(app.query_one(StatusBar).render())
    return console.export_text()


@pytest.mark.parametrize("backlog, speed, shown", [
    (Backlog(1234, 3.4), 1.0, (1234, 3.4)),
    (Backlog(40, 0.2), 1.0, (0, None)),  # a short wait is not a backlog
    (Backlog(256, 2.0), None, (0, None)),  # a replay at max speed keeps its queue full by design
])
async def test_the_status_bar_shows_a_backlog_when_scoring_is_behind(backlog, speed, shown):
    app = make_app(pipeline=Behind(backlog, speed))
    async with app.run_test(size=(160, 48)) as pilot:
        app.refresh_now()
        await pilot.pause()
        info = app.status_info()
        assert (info.backlog, info.backlog_s) == shown
        text = bar_text(app)
        if shown[0]:
            assert "⧗ 1,234 waiting, 3 s behind" in text
        else:
            assert "waiting" not in text
        await pilot.press("q")
