"""The Source protocol: what every tweet source (replay, demo, live X) offers the pipeline."""

from __future__ import annotations

import threading
from typing import Callable, Protocol, runtime_checkable

from finterm.engine.records import Tweet

from ..events import SourceStatus

Emit = Callable[[Tweet], None]
StatusFn = Callable[[SourceStatus], None]


@runtime_checkable
class Source(Protocol):
    """A blocking producer run in its own thread by the pipeline.

    `run` calls `emit` once per tweet, in order, and `status` when its state changes; it
    returns at the end of the stream or soon after `stop` is set. A source never knows who
    consumes its tweets.
    """

    name: str

    def describe(self) -> str: ...

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None: ...


def parse_speed(value: str | float | None) -> float | None:
    """`max` (or None) means as fast as possible (None); else a positive factor."""
    if value is None:
        return None
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("max", "inf", "none"):
            return None
        try:
            value = float(v.rstrip("x"))
        except ValueError:
            raise ValueError(f"speed must be a positive number or 'max', not {value!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        if value == float("inf"):
            return None
        raise ValueError(f"speed must be a positive number or 'max', not {value!r}")
    return float(value)
