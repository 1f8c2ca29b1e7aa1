"""A pipeline-shaped test double fed from fixture.jsonl, and helpers for the UI tests.

It has the shape docs/CONTRACTS.md gives the real pipeline (`events` queue of `list[Scored]`
batches, `SourceStatus`-like objects and `PipelineFailed`; `source` with `name`, `describe()`,
`set_speed()`/`speed`; `classifier.describe()`; `stats`; `start()`/`stop()`), so the real app
runs unchanged over it. Only the pipeline is a double; every widget is the real one.
"""

from __future__ import annotations

import json
import queue
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from finterm.config import Config, config_from_dict
from finterm.records import Scored, Tweet
from finterm.records import SourceStatus as Status

FIXTURE = Path(__file__).with_name("fixture.jsonl")
MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"


def shipped_labels() -> dict[str, list[str]]:
    """Label names per task as the shipped model folders' config.json give them (the truth)."""
    out = {}
    for task in ("sentiment", "topic"):
        id2label = json.loads((MODELS / task / "config.json").read_text())["id2label"]
        out[task] = [id2label[k] for k in sorted(id2label, key=int)]
    return out


LABELS = shipped_labels()
FIXED_CLOCK = datetime(2026, 1, 15, 9, 30, 0, tzinfo=timezone.utc)


def load_fixture(path: Path = FIXTURE) -> list[Scored]:
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        tw = Tweet(
            id=r["id"], created_at=datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")),
            author=r["user"], text=r["text"], tickers=tuple(r["symbols"]), source="replay",
        )
        out.append(Scored(tweet=tw, sentiment=r["sentiment"], sentiment_score=r["sentiment_score"],
                          topic=r["topic"], topic_score=r["topic_score"], batch_latency_ms=r["latency_ms"]))
    return out


class ReplaySourceDouble:
    name = "replay"

    def __init__(self, path: str = "fixture.jsonl", speed: float | None = 1.0) -> None:
        self.path = path
        self.speed = speed
        self.speeds: list[float | None] = []

    def describe(self) -> str:
        return self.path

    def set_speed(self, x: float | None) -> None:
        self.speed = x
        self.speeds.append(x)


class QueuePipeline:
    """Everything is queued up front (or by `push`); nothing runs in threads."""

    def __init__(self, scored: list[Scored] | None = None, batch: int = 16, ended: bool = True,
                 source=None) -> None:
        self.events: queue.Queue = queue.Queue()
        self.source = source or ReplaySourceDouble()
        self.classifier = SimpleNamespace(describe=lambda: "onnxruntime · sentiment finbert-s (11.2 MB) + topic finbert-t (11.4 MB)",
                                          labels=LABELS)
        self.stats = SimpleNamespace(count=0, rate=0.0, latency_p50=None, latency_p99=None)
        self.started = False
        self.stopped = False
        scored = scored or []
        self.events.put(Status("live", position=0, total=len(scored), speed=getattr(self.source, "speed", None)))
        for i in range(0, len(scored), batch):
            self.push(scored[i : i + batch])
        if ended:
            self.events.put(Status("ended", position=len(scored), total=len(scored)))

    def push(self, batch: list[Scored]) -> None:
        self.events.put(list(batch))
        self.stats.count += len(batch)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def join(self) -> None:
        pass


def fixture_config(**ui) -> Config:
    base = dict(window_minutes=60, newest_first=True, theme="dark", feed_max=500)
    base.update(ui)
    return config_from_dict({"ui": base, "watchlist": ["SPY", "QQQ"]}, "the fixture")


def make_app(**kw):
    """The real FintermApp over the fixture, with a fixed clock and timers that never tick."""
    from finterm.tui.app import FintermApp

    pipeline = kw.pop("pipeline", None) or QueuePipeline(load_fixture())
    config = kw.pop("config", None) or fixture_config()
    return FintermApp(pipeline=pipeline, config=config, clock=lambda: FIXED_CLOCK,
                      drain_interval=kw.pop("drain_interval", 3600), panel_interval=kw.pop("panel_interval", 3600), **kw)


class ThreadPipeline:
    """A pipeline-shaped double that scores in its own thread with a real Classifier.

    Tweets from the fixture are scored off the UI thread in batches of `batch` and put on
    `events`, `per_s` tweets a second.
    """

    def __init__(self, classifier, tweets: list[Tweet], batch: int = 16, per_s: float = 300.0) -> None:
        import threading

        self.events: queue.Queue = queue.Queue()
        self.source = ReplaySourceDouble(speed=per_s)
        self.classifier = classifier
        self.stats = SimpleNamespace(count=0)
        self.tweets = tweets
        self.batch = batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finterm-test-pipeline", daemon=True)
        self.scoring_threads: set[str] = set()

    def _run(self) -> None:
        import threading
        import time

        n = len(self.tweets)
        self.events.put(Status("live", position=0, total=n))
        for i in range(0, n, self.batch):
            if self._stop.is_set():
                return
            chunk = self.tweets[i : i + self.batch]
            self.scoring_threads.add(threading.current_thread().name)
            self.events.put(self.classifier.score(chunk))
            self.stats.count += len(chunk)
            speed = self.source.speed
            if speed:
                time.sleep(len(chunk) / speed)
        self.events.put(Status("ended", position=n, total=n))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def join(self) -> None:
        self._thread.join()
