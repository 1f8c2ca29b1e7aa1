"""Compiling shapes ahead: a worker thread per model, and a gate shared by a classifier's models.

A DeepSparse compile takes 1-2 s on one core and releases the GIL, so shapes are compiled on
a worker thread while tweets are scored. The gate bounds how many compile at once and tells
the bridge whether any compile is still under way.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable

from finterm.errors import EngineError

from .backend import Progress, Shape

#: How much nicer than the process the compile thread runs (Linux: per thread). Compiles take
#: the CPU from the tweets scored meanwhile otherwise (bench/e2e.py, live 50 tweets/s: p99
#: 219 ms at the process's priority, 42 ms at +10; BENCHMARKS.md).
COMPILE_NICENESS = 10

#: Queues with a worker, so the process can let a running compile finish before it exits:
#: ending the interpreter under a compile in progress aborts the process.
_QUEUES: list[CompileQueue] = []


@atexit.register
def _finish_compiles() -> None:
    for q in _QUEUES:
        q.cancel_pending()
    for q in _QUEUES:
        q.wait(timeout=120)


class CompileGate:
    """The compiles of one classifier's models: how many may run at once, and whether any is
    queued or running. Live scoring stays off the compiled engine meanwhile: its threads would
    fight the compile for a core, so the bridge scores on the free core (bench/e2e.py at 50
    tweets/s: arrival-to-scored p99 559 ms with both on DeepSparse, 54 ms with the bridge)."""

    def __init__(self, jobs: int = 1):
        self._slots = threading.Semaphore(max(1, int(jobs)))
        self._queues: list[CompileQueue] = []

    def __enter__(self):
        self._slots.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._slots.release()

    def register(self, queue: CompileQueue) -> None:
        self._queues.append(queue)

    def busy(self) -> bool:
        return any(q.busy() for q in self._queues)


class CompileQueue:
    """Shapes of one model compiled in order on one worker thread, below the process's priority.

    `compile(shape)` builds and keeps the engine (raising EngineError when it cannot);
    `is_ready(shape)` says whether it is built. A failed shape is remembered in `failed`, with
    why, and never tried again (the bridge scores it). `on_idle` runs when the queue empties.
    """

    def __init__(self, name: str, compile: Callable[[Shape], object], is_ready: Callable[[Shape], bool],
                 gate: CompileGate | None = None, progress: Progress | None = None,
                 on_idle: Callable[[], None] | None = None):
        self.name = name
        self._compile_fn = compile
        self._is_ready = is_ready
        self._gate = gate or CompileGate(1)
        self._gate.register(self)
        self._progress = progress
        self._on_idle = on_idle
        self._cv = threading.Condition()
        self._pending: list[Shape] = []
        self._compiling: Shape | None = None
        self.failed: dict[Shape, str] = {}
        self.worker: threading.Thread | None = None

    @property
    def gate(self) -> CompileGate:
        return self._gate

    def request(self, key: Shape, urgent: bool = False) -> None:
        """Queue `key` (at the front when `urgent`: tweets wait on it, not just a warm-up)."""
        with self._cv:
            if self._is_ready(key) or key in self.failed or key in self._pending or key == self._compiling:
                return
            if urgent:
                self._pending.insert(0, key)
            else:
                self._pending.append(key)
            self._cv.notify_all()
            if self.worker is None:
                _QUEUES.append(self)
                self.worker = threading.Thread(target=self._work, name=f"finterm-compile-{self.name}", daemon=True)
                self.worker.start()

    def queued(self, key: Shape) -> bool:
        with self._cv:
            return key in self._pending or key == self._compiling

    def busy(self) -> bool:
        """True while shapes are queued or compiling."""
        with self._cv:
            return bool(self._pending) or self._compiling is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the compiles queued so far; True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._pending or self._compiling is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def wait_for(self, key: Shape) -> None:
        """Until `key` is built or failed: wait for the worker if it has the shape queued (moved
        to the front), else compile it on this thread."""
        with self._cv:
            if key in self._pending:
                self._pending.remove(key)
                self._pending.insert(0, key)
                self._cv.notify_all()
            queued = key in self._pending or key == self._compiling
            while queued and not self._is_ready(key) and key not in self.failed:
                self._cv.wait()
        if not queued:
            self.compile_now(key)

    def cancel_pending(self) -> None:
        """Drop the queued compiles (the one running, if any, finishes)."""
        with self._cv:
            self._pending.clear()
            self._cv.notify_all()

    def compile_now(self, key: Shape) -> None:
        """Compile one shape on this thread, under the gate; a failure is recorded, not raised."""
        try:
            with self._gate:
                self._compile_fn(key)
        except EngineError as exc:
            self.failed[key] = exc.message
            if self._progress:
                self._progress(f"{exc.message}; ONNX Runtime scores that shape")
        except Exception as exc:  # noqa: BLE001 - never let a worker die silently
            self.failed[key] = f"{exc.__class__.__name__}: {exc}"

    def _work(self) -> None:
        # Relative to the thread's own niceness: under `nice -n 15 finterm` a fixed 10 would
        # raise the compiles above the scoring threads (root may) or fail (others). The
        # engine's threads started from here inherit it.
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + COMPILE_NICENESS))
        except (AttributeError, OSError):  # not Linux
            pass
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                key = self._pending.pop(0)
                self._compiling = key
            try:
                self.compile_now(key)
            finally:
                with self._cv:
                    self._compiling = None
                    if not self._pending and self._on_idle:
                        self._on_idle()
                    self._cv.notify_all()
