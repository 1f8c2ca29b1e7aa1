"""The pipeline with the real tiny classifier: order, nothing lost on stop, failures reported."""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from finterm.engine.classifier import Classifier
from finterm.pipeline.runner import Pipeline
from finterm.records import PipelineFailed, SourceStatus, make_tweet

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def classifier(tiny_models):
    return Classifier(*tiny_models, engine="onnxruntime", batch_size=8)


class ListSource:
    """Emits n tweets; optionally raises after `fail_after`, or waits for stop after `hold_after`."""

    name = "list"

    def __init__(self, n, fail_after=None, hold_after=None):
        self.n, self.fail_after, self.hold_after = n, fail_after, hold_after
        self.emitted = 0
        self.holding = threading.Event()

    def describe(self):
        return f"{self.n} tweets"

    def run(self, emit, status, stop):
        status(SourceStatus("live"))
        for i in range(self.n):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("feed went away")
            if self.hold_after is not None and i == self.hold_after:
                self.holding.set()
                stop.wait()
            if stop.is_set():
                return
            emit(make_tweet(str(i), T0 + timedelta(seconds=i), "u", f"$AAPL stock up {i}"))
            self.emitted += 1
        status(SourceStatus("ended"))


class Collect:
    def __init__(self):
        self.ids, self.closed = [], False

    def __call__(self, batch):
        self.ids.extend(s.tweet.id for s in batch)

    def close(self):
        self.closed = True


def drain(q: queue.Queue):
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


def test_every_tweet_in_order_to_sinks_and_events(classifier):
    sink = Collect()
    p = Pipeline(ListSource(500), classifier, [sink], batch_size=8, max_wait_ms=5, queue_size=16)
    p.start()
    assert p.join(timeout=60)
    assert sink.ids == [str(i) for i in range(500)] and sink.closed
    events = drain(p.events)
    batches = [e for e in events if isinstance(e, list)]
    assert [s.tweet.id for b in batches for s in b] == sink.ids and max(len(b) for b in batches) <= 8
    assert [e.state for e in events if isinstance(e, SourceStatus)] == ["live", "ended"]
    st = p.stats
    assert st.count == 500 and st.rate > 0 and st.latency_p99 >= st.latency_p50 and st.e2e_p50 is not None
    assert p.failed is None


class Gated:
    """The real classifier, but each batch waits for `go` (a deliberately slow engine)."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.started = threading.Event()
        self.go = threading.Event()
        self.calls = 0

    def score(self, tweets):
        self.calls += 1
        self.started.set()
        assert self.go.wait(30)
        return self.classifier.score(tweets)


def wait_for(cond, what, deadline_s=30.0):
    end = time.monotonic() + deadline_s
    while not cond():
        assert time.monotonic() < end, f"never saw {what}"
        time.sleep(0.01)


def test_stop_finishes_the_batch_in_flight_and_starts_no_other(classifier):
    src, sink, gated = ListSource(1000), Collect(), Gated(classifier)
    p = Pipeline(src, gated, [sink], batch_size=8, max_wait_ms=5, queue_size=32, ui_batches=False)
    p.start()
    assert gated.started.wait(30)  # the first batch is being scored
    wait_for(lambda: p.backlog().full, "a full queue")
    backlog = p.backlog()
    assert backlog.waiting == 32 and backlog.oldest_s is not None
    p.stop()
    gated.go.set()
    assert p.join(timeout=60)
    assert gated.calls == 1 and sink.closed  # the batch in flight, delivered; no other started
    assert sink.ids == [str(i) for i in range(len(sink.ids))] and 1 <= len(sink.ids) <= 8
    assert p.last_id == sink.ids[-1] and p.stats.count == len(sink.ids)
    assert p.unscored >= 32  # what waited in the queue was read but not scored
    assert not [e for e in drain(p.events) if isinstance(e, list)]  # headless: no batches queued for a UI


def test_finish_gives_up_a_batch_stuck_in_the_engine_and_closes_the_sinks(classifier):
    src, sink, gated = ListSource(1000), Collect(), Gated(classifier)
    p = Pipeline(src, gated, [sink], batch_size=8, max_wait_ms=5, queue_size=32, ui_batches=False)
    p.start()
    assert gated.started.wait(30)  # the first batch is in the engine and stays there
    p.stop()
    assert p.finish(grace_s=0.05)
    assert sink.closed and sink.ids == [] and p.gave_up and p.unscored >= 1 and p.last_id is None
    gated.go.set()  # the engine comes back: its batch is not written after all
    assert p.join(timeout=60) and sink.ids == []


def test_a_source_that_ends_on_its_own_is_scored_to_the_end(classifier):
    src, sink = ListSource(300), Collect()
    p = Pipeline(src, classifier, [sink], batch_size=8, max_wait_ms=5, queue_size=16, ui_batches=False)
    p.start()
    assert p.join(timeout=60)
    assert sink.ids == [str(i) for i in range(300)] and p.unscored == 0 and p.last_id == "299"
    st = p.stats
    assert 1 <= st.backlog_peak <= 16 + 8 and st.wait_peak_s >= 0.0


def test_source_failure_is_reported_after_scoring_what_came(classifier):
    sink = Collect()
    p = Pipeline(ListSource(100, fail_after=40), classifier, [sink], batch_size=8, max_wait_ms=5)
    p.start()
    assert p.join(timeout=60)
    assert sink.ids == [str(i) for i in range(40)]
    fails = [e for e in drain(p.events) if isinstance(e, PipelineFailed)]
    assert len(fails) == 1 and "feed went away" in fails[0].message and p.failed == fails[0].message


def test_scoring_failure_stops_the_run_without_hanging(classifier):
    class Broken:
        engine_name = "broken"

        def score(self, tweets):
            raise ValueError("model exploded")

    sink = Collect()
    p = Pipeline(ListSource(5000), Broken(), [sink], batch_size=8, max_wait_ms=5, queue_size=16)
    p.start()
    assert p.join(timeout=60)
    assert p.failed and "model exploded" in p.failed and sink.closed and sink.ids == []


@pytest.mark.parametrize("n", [1, 2, 7])
def test_failure_on_the_last_batch_does_not_hang(n):
    """The batch that fails also holds the end of the stream: nothing more will come."""
    class Broken:
        engine_name = "broken"

        def score(self, tweets):
            raise ValueError("model exploded")

    p = Pipeline(ListSource(n), Broken(), [Collect()], batch_size=8, max_wait_ms=200)
    p.start()
    assert p.join(timeout=20), "scorer hung waiting for a second end-of-stream marker"
    assert "model exploded" in p.failed


def test_sink_failure_names_the_sink(classifier):
    class Full:
        name = "recorder"

        def __call__(self, batch):
            raise OSError("disk full")

    p = Pipeline(ListSource(100), classifier, [Full()], batch_size=8, max_wait_ms=5, queue_size=16)
    p.start()
    assert p.join(timeout=60)
    assert p.failed == "recorder failed: disk full"


class HeldSource(ListSource):
    """Emits all its tweets before the scorer may start, so batch sizes are what the pipeline asks."""

    def __init__(self, n, gate: threading.Event):
        super().__init__(n)
        self.gate = gate

    def run(self, emit, status, stop):
        super().run(emit, status, stop)
        self.gate.set()


def test_first_batch_is_small_then_batches_fill_to_the_chunk(classifier):
    gate = threading.Event()
    sizes = []

    class Gated:
        """The real classifier, held until the source has queued everything."""

        def score(self, tweets):
            gate.wait(30)
            sizes.append(len(tweets))
            return classifier.score(tweets)

    sink = Collect()
    p = Pipeline(HeldSource(300, gate), Gated(), [sink], batch_size=128, max_wait_ms=2000,
                 queue_size=512, first_batch_size=8)
    p.start()
    assert p.join(timeout=60)
    assert sink.ids == [str(i) for i in range(300)]
    assert sizes[0] == 8 and sizes[1] == 128 and sum(sizes) == 300


def test_with_no_wait_a_quiet_feed_is_scored_one_tweet_at_a_time(classifier):
    class Slow(ListSource):
        def run(self, emit, status, stop):
            for i in range(5):
                emit(make_tweet(str(i), T0 + timedelta(seconds=i), "u", f"$AAPL up {i}"))
                stop.wait(0.05)

    sizes = []
    p = Pipeline(Slow(0), classifier, [lambda b: sizes.append(len(b))], batch_size=8, max_wait_ms=0)
    p.start()
    assert p.join(timeout=60)
    assert sizes == [1, 1, 1, 1, 1]
