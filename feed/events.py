"""What the pipeline tells the UI besides scored batches: source status and failure."""

from __future__ import annotations

from dataclasses import dataclass

#: The states a source moves through; the UI shows them in its status bar.
STATES = ("connecting", "live", "reconnecting", "polling", "ended", "error")


@dataclass(frozen=True)
class SourceStatus:
    """A source's state at one moment; `position`/`total`/`speed` are for replays."""

    state: str
    detail: str = ""
    #: time.time() of the next reconnect attempt, when reconnecting.
    next_retry_at: float | None = None
    position: int | None = None
    total: int | None = None
    speed: float | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown source state {self.state!r}")


class PipelineFailed(Exception):
    """The pipeline stopped on an error; `message` is one line for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
