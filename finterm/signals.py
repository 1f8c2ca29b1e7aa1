"""Prompt, clean stops on SIGINT and SIGTERM, for every front end (headless, the screen, label
review, archive scoring).

    stop = StopController().install()   # in the main thread, before anything slow
    ...                                  # start-up: a signal raises Stopped here
    stop.running(pipeline.stop)          # from now on a signal asks the run to stop
    ...                                  # the run ends: finish the batch in flight, close sinks
    return stop.exit_code or 0           # 130 after SIGINT, 143 after SIGTERM

The first signal records which one came, sets `event` and calls the callbacks given to
`running`. They run inside the signal handler, in the main thread, between two bytecodes
of whatever it was doing: each must be quick and take no lock that code could hold (set an
Event; no logging, no I/O, no starting threads). Work that needs more waits on `event` in a
thread of its own.
While still starting (models loading, engines compiling) there is no run to stop yet, so the
first signal raises `Stopped` in the main thread instead: the front end catches it, says so
in one line and returns `exit_code`. A second signal ends the process at once with
`os._exit(128 + signum)`, after the `on_force` hooks (restore the terminal, say why).

A front end with no pipeline to stop (`finterm score`: the main thread does the work) never
calls `running`: a first signal raises `Stopped` wherever the main thread is, so loading
models or scoring a chunk is cut short at once, except inside `critical()` (writing a part
and its manifest line), where it is noted and raised when the block ends.

Handlers can only be set from the main thread; elsewhere `install` does nothing and
`installed` stays False (tests that drive a front end from a worker thread).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger("finterm.signals")

#: The signals that mean "stop": Ctrl+C and a service manager's stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Stopped(BaseException):
    """A stop signal came while starting: unwinds start-up (a BaseException, so library code
    that catches Exception lets it through)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signal_name(signum))
        self.signum = signum
        self.exit_code = 128 + signum


class StopController:
    """Turns SIGINT/SIGTERM into a stop request; see the module docstring."""

    def __init__(self, signals: tuple[int, ...] = STOP_SIGNALS):
        self.signals = tuple(signals)
        self.event = threading.Event()
        #: The first stop signal received (None: none yet).
        self.signum: int | None = None
        self.installed = False
        self._starting = True
        self._critical = 0
        self._callbacks: list[Callable[[], None]] = []
        self._force_hooks: list[Callable[[int], None]] = []
        self._old: dict[int, object] = {}

    # -- set-up -----------------------------------------------------------------------------
    def install(self) -> "StopController":
        if threading.current_thread() is not threading.main_thread() or self.installed:
            return self
        for sig in self.signals:
            self._old[sig] = signal.signal(sig, self._handle)
        self.installed = True
        return self

    def uninstall(self) -> None:
        """Put the previous handlers back (a second run in the same process, tests)."""
        if not self.installed:
            return
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()
        self.installed = False

    def __enter__(self) -> "StopController":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()

    def running(self, *callbacks: Callable[[], None]) -> None:
        """Start-up is over: from now on a first signal calls `callbacks` instead of raising.
        A signal that came before (and was not raised, e.g. outside the main thread) is
        passed on at once."""
        self._callbacks.extend(callbacks)
        self._starting = False
        if self.event.is_set():
            for cb in callbacks:
                self._call(cb)

    def starting(self) -> None:
        """Back to start-up: a first signal raises `Stopped` again (a second run being built)."""
        self._starting = True

    def on_stop(self, callback: Callable[[], None]) -> None:
        """One more callback for the first signal (called at once when it has come already)."""
        self._callbacks.append(callback)
        if self.event.is_set():
            self._call(callback)

    def on_force(self, hook: Callable[[int], None]) -> None:
        """`hook(signum)` runs just before a second signal ends the process (keep it tiny)."""
        self._force_hooks.append(hook)

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A block a signal must not cut: a first signal inside it is only noted, and `Stopped`
        is raised as the outermost block ends (while starting: see the module docstring)."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and self._starting:
            self.check()

    @contextmanager
    def critical_quiet(self) -> Iterator[None]:
        """Like `critical()`, for clean-up after a stop: a signal is noted, nothing is raised."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1

    def check(self) -> None:
        """Raise `Stopped` if a stop signal has come (a point where stopping is safe)."""
        if self.signum is not None:
            raise Stopped(self.signum)

    # -- state ------------------------------------------------------------------------------
    @property
    def requested(self) -> bool:
        return self.event.is_set()

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number (130 SIGINT, 143 SIGTERM), or None without a signal."""
        return None if self.signum is None else 128 + self.signum

    @property
    def name(self) -> str:
        return signal_name(self.signum) if self.signum is not None else ""

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Act as if `signum` came, without raising (tests; a front end's own "stop now")."""
        self._on_signal(signum, may_raise=False)

    # -- the handler ------------------------------------------------------------------------
    def _handle(self, signum: int, frame) -> None:
        self._on_signal(signum, may_raise=True)

    def _on_signal(self, signum: int, may_raise: bool) -> None:
        if self.event.is_set():  # a second signal: now
            for hook in self._force_hooks:
                try:
                    hook(signum)
                except BaseException:
                    pass
            os._exit(128 + signum)
        self.signum = signum  # nothing here may take a lock the interrupted code could hold (no logging)
        self.event.set()
        if self._starting and may_raise and not self._critical:
            raise Stopped(signum)
        for cb in list(self._callbacks):
            self._call(cb)

    @staticmethod
    def _call(cb: Callable[[], None]) -> None:
        try:
            cb()
        except Exception:  # a stop request must never raise into whatever the signal interrupted
            log.exception("stop callback failed")
