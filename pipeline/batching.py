"""Micro-batching: up to B items or T seconds after the first one, whichever comes first."""

from __future__ import annotations

import queue
import threading
import time


def collect_batch(q: "queue.Queue", max_batch: int, max_wait_s: float, stop: threading.Event | None = None,
                  idle_poll_s: float = 0.1) -> list:
    """Block until at least one item arrives (or `stop` is set), then gather more.

    Returns an empty list only when `stop` is set and the queue is empty. A `None` item in
    the queue is returned as-is at the end of its batch (it is the end-of-stream marker),
    so callers see every item they put in, in order.
    """
    batch: list = []
    while not batch:
        try:
            item = q.get(timeout=idle_poll_s)
        except queue.Empty:
            if stop is not None and stop.is_set():
                return batch
            continue
        batch.append(item)
        if item is None:
            return batch
    deadline = time.monotonic() + max_wait_s
    while len(batch) < max_batch:
        remaining = deadline - time.monotonic()
        try:
            item = q.get_nowait() if remaining <= 0 else q.get(timeout=remaining)
        except queue.Empty:
            break
        batch.append(item)
        if item is None:
            break
    return batch
