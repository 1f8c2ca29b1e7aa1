"""Source thread → micro-batches → classifier thread → sinks and the UI's event queue.

Two threads and one bounded queue between them: the source blocks when scoring falls
behind (no tweet is dropped, memory stays flat on a big replay), and a single scoring
thread keeps the output in input order. `backlog()` says how many posts wait and for how
long. `stop()` is prompt: the source stops reading, the batch being scored is finished and
handed to the sinks, no batch starts after it (posts still queued are not scored:
`unscored` counts them), and the sinks are closed before `join` returns. The source ending
on its own, or failing, is not a stop: what it emitted is scored first.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from finterm.errors import FintermError
from finterm.records import PipelineFailed, PostDeleted, Scored, SourceStatus, Tweet
from finterm.stats import percentile

from .batching import collect_batch

log = logging.getLogger("finterm.pipeline.runner")

Sink = Callable[[list[Scored]], None]
#: How long `finish` waits for the batch in flight after a stop before giving it up: an idle
#: machine scores even a batch-scoring chunk (256 posts, ~0.6 s) within it; a busy one (or a
#: batch waiting for a DeepSparse compile) must not hold the exit for tens of seconds.
STOP_GRACE_S = 1.0
#: Latency samples kept for the percentiles (the most recent ones).
SAMPLES = 4096


@dataclass(frozen=True)
class PipelineStats:
    """A snapshot: tweets scored, their rate, and latencies in milliseconds."""

    count: int = 0
    elapsed_s: float = 0.0
    rate: float = 0.0
    #: Engine time per batch (what the classifier spent).
    latency_p50: float | None = None
    latency_p99: float | None = None
    #: From a tweet reaching finterm to its scores being handed on (queueing included).
    e2e_p50: float | None = None
    e2e_p99: float | None = None
    #: The most posts seen waiting for scoring, and the longest any waited (seconds).
    backlog_peak: int = 0
    wait_peak_s: float = 0.0


@dataclass(frozen=True)
class Backlog:
    """Posts read but not scored yet, and how long the oldest of them has waited."""

    waiting: int = 0
    oldest_s: float | None = None
    #: The queue is full: the source is held back until scoring catches up.
    full: bool = False


class Pipeline:
    """Runs `source` and scoring in two threads; see the module docstring for guarantees."""

    def __init__(self, source, classifier, sinks: Sequence[Sink] = (), batch_size: int = 16,
                 max_wait_ms: float = 0.0, ui_batches: bool = True, queue_size: int | None = None,
                 first_batch_size: int | None = None, limit: int | None = None):
        self.source = source
        self.classifier = classifier
        self.sinks = list(sinks)
        self.batch_size = max(1, int(batch_size))
        #: The first batch can be smaller, so the first line comes before a big batch is scored.
        self.first_batch_size = max(1, min(int(first_batch_size or batch_size), self.batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000.0
        #: For the UI: list[Scored] batches (when ui_batches), SourceStatus, PipelineFailed.
        self.events: queue.Queue = queue.Queue()
        self.ui_batches = ui_batches
        self.failed: str | None = None
        self.last_status: SourceStatus | None = None
        #: The last status the source itself gave (last_status may be the pipeline's "--limit reached").
        self.last_source_status: SourceStatus | None = None
        self._q: queue.Queue = queue.Queue(maxsize=queue_size or max(256, 4 * self.batch_size))
        self._stop = threading.Event()  # the source should stop reading
        self._halt = threading.Event()  # stop(): no batch starts after it
        #: Posts read but left unscored because the run was stopped.
        self.unscored = 0
        #: The id of the last post handed to the sinks.
        self.last_id: str | None = None
        self._backlog_peak = 0
        self._wait_peak_s = 0.0
        #: Held while a scored batch is handed to the sinks, and while they are closed.
        self._deliver = threading.Lock()
        self._in_flight = 0  # posts in the batch being scored
        self._abandoned = False
        self._sinks_closed = False
        #: True when `finish` gave up a batch still being scored (it was not written).
        self.gave_up = False
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._count = 0
        self._t0: float | None = None
        self._t_last: float | None = None
        self._batch_ms: deque[float] = deque(maxlen=SAMPLES)
        self._e2e_ms: deque[float] = deque(maxlen=SAMPLES)
        #: Stop after this many posts (--limit): counted here, where every source's posts pass
        #: (merged ones from several threads), so the count is exact whatever the source.
        self.limit = limit if limit and limit > 0 else None
        self._accepted = 0
        self._limited = False
        #: Posts the sources said were deleted (passed on to the UI after the post itself).
        self.deleted = 0

    # -- control --------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._threads = [
            threading.Thread(target=self._run_source, name="finterm-source", daemon=True),
            threading.Thread(target=self._run_scorer, name="finterm-scorer", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop now: the source stops reading and the batch being scored is finished and
        delivered; no batch starts after this (queued posts are counted in `unscored`)."""
        self._halt.set()
        self._stop.set()

    @property
    def halted(self) -> bool:
        """True once `stop()` was called (a signal, the user quitting, a closed stdout)."""
        return self._halt.is_set()

    def backlog(self) -> Backlog:
        """What waits for scoring now (cheap: call it from a timer)."""
        q = self._q
        with q.mutex:
            items = list(q.queue)
        waiting = [t for t in items if isinstance(t, Tweet)]
        oldest = min((t.arrived for t in waiting if t.arrived), default=None)
        return Backlog(len(waiting), None if oldest is None else max(0.0, time.monotonic() - oldest),
                       full=q.maxsize > 0 and len(items) >= q.maxsize)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def finish(self, grace_s: float | None = None) -> bool:
        """After `stop()`: wait up to `grace_s` for the batch in flight; if it is still being
        scored then, give it up (not written; counted in `unscored`) and close the sinks now,
        so the exit never waits on a slow engine. True when the run is over (sinks closed)."""
        grace_s = STOP_GRACE_S if grace_s is None else grace_s
        if self.join(grace_s):
            return True
        with self._deliver:
            if not self._sinks_closed:
                self._abandoned = True
                if self._in_flight:
                    self.gave_up = True
                    self.unscored += self._in_flight
                    self._in_flight = 0
        log.info("stop: gave up the batch in flight after %.1f s", grace_s)
        self._close_sinks()
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads; True when they have finished (sinks then closed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- threads --------------------------------------------------------------------------
    def _emit(self, tweet: Tweet | PostDeleted) -> None:
        if self._halt.is_set():
            return  # stopped: nothing more is read
        if isinstance(tweet, Tweet):
            if self.limit is not None:
                with self._lock:
                    if self._accepted >= self.limit:
                        return  # past --limit: the source is being stopped
                    self._accepted += 1
                    reached = self._accepted >= self.limit
                if reached:
                    self._limit_reached()
            if not tweet.arrived:
                tweet = replace(tweet, arrived=time.monotonic())
        while True:  # block while scoring catches up, but never past the end of the run
            try:
                self._q.put(tweet, timeout=0.1)
                return
            except queue.Full:
                if self._halt.is_set() or (self._stop.is_set() and not self._scorer_alive()):
                    return

    def _put_end(self) -> None:
        """The end-of-stream marker, unless the run was stopped and the queue is full (the
        scorer then takes no more anyway)."""
        while True:
            try:
                self._q.put(None, timeout=0.1)
                return
            except queue.Full:
                if self._halt.is_set() or not self._scorer_alive():
                    return

    def _scorer_alive(self) -> bool:
        return len(self._threads) > 1 and self._threads[1].is_alive()

    def _limit_reached(self) -> None:
        """--limit posts are in: the source stops, what is queued is still scored."""
        log.info("limit of %d posts reached; stopping the source", self.limit)
        self._stop.set()
        last = self.last_status
        st = SourceStatus("ended", f"--limit {self.limit:,} reached", source=self._source_name(),
                          parts=last.parts if last is not None else ())
        self.last_status = st
        self._limited = True
        self.events.put(st)

    def _source_name(self) -> str:
        return str(getattr(self.source, "name", "") or "")

    def _status(self, st: SourceStatus) -> None:
        if not st.source:
            st = replace(st, source=self._source_name())
        if self._limited:
            return  # after --limit: a source's last words (closing, ...) would read as news
        self.last_status = self.last_source_status = st
        self.events.put(st)

    def _run_source(self) -> None:
        try:
            self.source.run(self._emit, self._status, self._stop)
        except FintermError as exc:  # one line the user can act on (a broken record names its line)
            log.error("source %s stopped: %s", getattr(self.source, "name", "?"), exc.message)
            self._fail(_one_line(exc))
        except Exception as exc:
            log.exception("source %s failed", getattr(self.source, "name", "?"))
            self._fail(f"source failed: {_one_line(exc)}")
        finally:
            self._put_end()  # end of stream: the scorer finishes what is queued, then stops

    def _fail(self, message: str) -> None:
        if self.failed is None:
            self.failed = message
        self.events.put(PipelineFailed(message))
        self._stop.set()

    def _run_scorer(self) -> None:
        done = False
        size = self.first_batch_size
        try:
            while True:
                batch = collect_batch(self._q, size, self.max_wait_s, stop=self._halt)
                size = self.batch_size
                done = bool(batch) and batch[-1] is None
                tweets = [t for t in batch if t is not None]
                if self._halt.is_set():  # stopped: no batch starts after it
                    self.unscored = sum(isinstance(t, Tweet) for t in tweets) + self._discard_queued()
                    break
                if tweets:
                    self._note_backlog(tweets)
                    self._score_in_order(tweets)
                if done:
                    break
        except _Abandoned:
            pass
        except _SinkFailed as exc:
            log.exception("output failed")
            self._fail(str(exc))
            self._drain_input(done)
        except Exception as exc:
            log.exception("scoring failed")
            self._fail(f"scoring failed: {_one_line(exc)}")
            self._drain_input(done)
        finally:
            self._close_sinks()

    def _drain_input(self, end_seen: bool) -> None:
        """After a failure, keep taking from the queue so the source is never stuck on it
        (unless the failing batch already held the end of the stream: nothing more comes)."""
        while not end_seen:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if not self._threads[0].is_alive():
                    return
                continue
            if item is None:
                return

    def _discard_queued(self) -> int:
        """After stop(): empty the queue (so the source never blocks on it); posts dropped."""
        n = 0
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return n
            n += isinstance(item, Tweet)

    def _note_backlog(self, batch: list) -> None:
        """The peak backlog: posts waiting as a batch starts (it and the queue), the longest wait."""
        arrived = [t.arrived for t in batch if isinstance(t, Tweet) and t.arrived]
        waiting = len(batch) + self._q.qsize()
        wait = time.monotonic() - min(arrived) if arrived else 0.0
        with self._lock:
            self._backlog_peak = max(self._backlog_peak, waiting)
            self._wait_peak_s = max(self._wait_peak_s, wait)

    def _score_in_order(self, items: list) -> None:
        """Score the posts of a batch; a delete goes on after the posts before it (never before
        the post it names, so the UI always has the post to drop)."""
        if not any(isinstance(x, PostDeleted) for x in items):
            self._score(items)
            return
        run: list[Tweet] = []
        for x in items:
            if isinstance(x, PostDeleted):
                if run:
                    self._score(run)
                    run = []
                self.deleted += 1
                self.events.put(x)
            else:
                run.append(x)
        if run:
            self._score(run)

    def _score(self, tweets: list[Tweet]) -> None:
        with self._deliver:
            if self._abandoned:
                raise _Abandoned()
            self._in_flight = len(tweets)
        scored = self.classifier.score(tweets)
        with self._deliver:
            if self._abandoned:  # finish() gave this batch up and closed the sinks
                raise _Abandoned()
            self._in_flight = 0
            self._deliver_scored(tweets, scored)

    def _deliver_scored(self, tweets: list[Tweet], scored: list[Scored]) -> None:
        for sink in self.sinks:
            try:
                sink(scored)
            except Exception as exc:
                raise _SinkFailed(f"{getattr(sink, 'name', 'output')} failed: {_one_line(exc)}") from exc
        now = time.monotonic()
        with self._lock:
            if self._t0 is None:
                self._t0 = min(t.arrived for t in tweets)
            self._t_last = now
            self._count += len(scored)
            if scored:
                self.last_id = scored[-1].tweet.id
            self._batch_ms.append(scored[0].batch_latency_ms if scored else 0.0)
            self._e2e_ms.extend((now - t.arrived) * 1000.0 for t in tweets)
        if self.ui_batches:
            self.events.put(scored)

    def _close_sinks(self) -> None:
        with self._deliver:
            if self._sinks_closed:
                return
            self._sinks_closed = True
            self._close_each()

    def _close_each(self) -> None:
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as exc:
                log.exception("closing sink failed")
                self._fail(f"{getattr(sink, 'name', 'output')}: {_one_line(exc)}")

    # -- numbers --------------------------------------------------------------------------
    @property
    def stats(self) -> PipelineStats:
        with self._lock:
            count, t0, t1 = self._count, self._t0, self._t_last
            b, e = list(self._batch_ms), list(self._e2e_ms)
            peak, wait_peak = self._backlog_peak, self._wait_peak_s
        elapsed = (t1 - t0) if (t0 is not None and t1 is not None) else 0.0
        return PipelineStats(
            count=count, elapsed_s=elapsed, rate=count / elapsed if elapsed > 0 else 0.0,
            latency_p50=percentile(b, 0.5), latency_p99=percentile(b, 0.99),
            e2e_p50=percentile(e, 0.5), e2e_p99=percentile(e, 0.99),
            backlog_peak=peak, wait_peak_s=wait_peak,
        )


class _Abandoned(Exception):
    """finish() gave up the batch in flight: the scorer ends without writing it."""


class _SinkFailed(Exception):
    """A sink (recorder, stdout) raised: the run stops with its message."""


def _one_line(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    return msg.strip().splitlines()[0][:300] if msg.strip() else exc.__class__.__name__
