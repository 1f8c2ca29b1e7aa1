"""A simulated day of a firehose's one-off cashtags, for the bounded-memory tests of the
screen's aggregates (sinks/aggregate.py, sinks/timeline.py)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def one_off_cashtag_day(add: Callable[[int, tuple[str, ...]], None]) -> tuple[list[int], int]:
    """Ten posts a minute for 24 h, each naming a new ticker and SPY, handed to `add(minute,
    tickers)`; returns the traced memory after 12 h and after 24 h, and the posts sent."""
    tracemalloc.start()
    try:
        sizes = []
        n = 0
        for m in range(24 * 60):
            for _ in range(10):
                n += 1
                add(m, (f"T{n}", "SPY"))
            if m in (12 * 60, 24 * 60 - 1):
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    return sizes, n
