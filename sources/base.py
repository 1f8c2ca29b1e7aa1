"""The Source protocol: what every tweet source (replay, demo, live X) offers the pipeline."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from finterm.records import SourceStatus, Tweet

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


@dataclass(frozen=True)
class SourceOptions:
    """What the command line asks of a source, beside the config (which each source reads itself)."""

    #: Replay pace times X; None = as fast as scoring goes.
    speed: float | None = 1.0
    #: Stop after this many posts (None: to the end of the stream).
    limit: int | None = None
    replay_path: Path | None = None
    #: Replay: rows of the file to skip (`--skip N`, to resume a stopped run).
    skip: int = 0
    #: One-line warnings for the user (a skipped row, a dropped symbol).
    warn: Callable[[str], None] | None = None


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
