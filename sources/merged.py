"""Several live sources merged into one feed: each in its own thread, none able to stop the others.

`MergedSource([bluesky, stocktwits])` follows the Source protocol. Each source runs in its
own thread with the shared `emit` (the pipeline counts and orders what comes in) and its own
status; every change is passed on as one merged `SourceStatus` whose `parts` hold each
source's last status (`source` set to its name), so the status bar and the headless summary
can say how each one is doing. A source that raises is shown as stopped, with why, and the
others go on; the merged run ends when all have ended, and fails only when all have failed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from finterm.errors import FintermError
from finterm.records import SourceStatus

from .base import Emit, Source, StatusFn

log = logging.getLogger(__name__)

#: The merged state, from the states of the parts: the best one present wins.
_RANK = ("live", "polling", "reconnecting", "rate_limited", "connecting", "ended", "error")


def merged_state(states: list[str]) -> str:
    for state in _RANK:
        if state in states:
            return state
    return "connecting"


class MergedSource:
    """One feed from several sources; `name` is theirs joined by `+`."""

    live = True

    def __init__(self, sources: list[Source]) -> None:
        if not sources:
            raise ValueError("MergedSource needs at least one source")
        self.sources = list(sources)
        self.name = "+".join(s.name for s in self.sources)
        self._lock = threading.Lock()
        self.states: dict[str, SourceStatus] = {s.name: SourceStatus("connecting", source=s.name) for s in self.sources}

    def describe(self) -> str:
        return " · ".join(_describe(s) for s in self.sources)

    def __repr__(self) -> str:
        return f"MergedSource({self.sources!r})"

    def parts(self) -> tuple[SourceStatus, ...]:
        with self._lock:
            return tuple(self.states[s.name] for s in self.sources)

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        failures: dict[str, str] = {}

        def report(name: str, st: SourceStatus) -> None:
            with self._lock:
                self.states[name] = replace(st, source=name, parts=())
                parts = tuple(self.states[s.name] for s in self.sources)
            state = merged_state([p.state for p in parts])
            detail = " · ".join(f"{p.source} {p.state}" for p in parts)
            status(SourceStatus(state, detail, parts=parts))

        def run_one(source: Source) -> None:
            name = source.name
            try:
                source.run(emit, lambda st: report(name, st), stop)
            except Exception as exc:
                why = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
                why = why.strip().splitlines()[0][:300] if why.strip() else exc.__class__.__name__
                if not isinstance(exc, FintermError):
                    log.exception("source %s failed", name)
                else:
                    log.error("source %s stopped: %s", name, why)
                failures[name] = why
                report(name, SourceStatus("error", why))
                return
            if self.states[name].state not in ("ended", "error"):
                report(name, SourceStatus("ended", "stopped" if stop.is_set() else "the source ended"))

        threads = [threading.Thread(target=run_one, args=(s,), name=f"finterm-source-{s.name}", daemon=True)
                   for s in self.sources]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(failures) == len(self.sources) and not stop.is_set():
            raise FintermError("every source stopped: " + "; ".join(f"{n}: {w}" for n, w in failures.items()))


def _describe(source: Source) -> str:
    try:
        return source.describe()
    except Exception:
        return source.name
