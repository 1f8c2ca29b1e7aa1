"""The one place a run is assembled: config + flags -> source -> pipeline -> sinks.

The command line (`finterm/cli.py`), the label review, bench/ and tests all build their
runs here, so a source, a sink or an engine setting is wired once. Input errors surface
while the source is built, before any model loads (a bad file fails in milliseconds).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, Callable

from finterm.config import Config
from finterm.sources.base import Source, SourceOptions
from finterm.sources.registry import build_sources

log = logging.getLogger("finterm.wiring")

#: Batch scoring: tweets per classifier call (sorted by length into batches inside, so each
#: batch pads little). DeepSparse compiles the 32- and 64-token shapes; finer lengths padded
#: less but cost more compiles and memory than they saved (BENCHMARKS.md).
BATCH_SCORING_CHUNK = 256


@dataclass
class Run:
    """What a front end runs: the pipeline (which holds source, classifier and sinks), and the
    stdout sink when headless."""

    pipeline: object
    jsonl: object | None = None

    @property
    def source(self) -> Source:
        return self.pipeline.source

    @property
    def classifier(self):
        return self.pipeline.classifier


def say(message: str) -> None:
    """One `finterm: ...` line on stderr (never a traceback)."""
    try:
        sys.stderr.write(f"finterm: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def is_batch_scoring(source_name: str, options: SourceOptions, headless: bool) -> bool:
    """A replay at max speed without a screen wants throughput; everything else wants latency."""
    return headless and source_name == "replay" and options.speed is None


def build_classifier(config: Config, batch_scoring: bool = False, progress: Callable[[str], None] | None = None,
                     threads: int = 0):
    """The models of both tasks on the chosen engine; ModelError/EngineError (exit 3) name what is missing.

    DeepSparse compiles one engine per shape (1-1.6 s each on one core here). Live, they
    compile one at a time in the background and ONNX Runtime scores meanwhile on the other
    core, so the first tweet shows within a second. Batch scoring compiles two at a time, in
    the order they are needed, and a batch waits for its shape: ONNX Runtime runs these int8
    files at a third to a half of DeepSparse's speed, so bridging cost more than it saved
    (BENCHMARKS.md).

    `threads`: cores for the engines (0: all of the machine's). Several scorers on one machine
    (`finterm score --ray` workers) each take their share, or they fight for every core.
    """
    from finterm.engine.classifier import Classifier

    if progress is None:
        tty = sys.stderr.isatty()

        def progress(message: str) -> None:  # DeepSparse compiles take seconds: say so on a terminal
            log.info(message)
            if tty:
                say(message)

    clf = Classifier(config.models.sentiment, config.models.topic, model_dir=config.models.model, engine=config.engine,
                     batch_size=config.batching.batch_size, on_progress=progress, threads=threads,
                     compile_jobs=(threads or os.cpu_count() or 1) if batch_scoring else 1)
    if batch_scoring:  # full batches of the common lengths; ONNX Runtime starts, and takes the rare long tweets
        clf.warmup(lengths=(32, 64), rows=(config.batching.batch_size,), bridge="first")
    else:  # full batches first (a lone tweet pads to one: a few ms), then single tweets
        clf.warmup(lengths=(32, 64), rows=(config.batching.batch_size, 1))
    log.info("classifier: %s", clf.describe())
    return clf


def build_sinks(config: Config) -> list:
    """The file sinks the config asks for (the recorder); stdout is added by `build_run`."""
    sinks = []
    if config.record:
        from finterm.sinks.recorder import Recorder

        recorder = Recorder(config.record)
        if recorder.recovered_rows:
            say(f"warning: {recorder.path}: merged {recorder.recovered_rows:,} rows that an interrupted recording had left in its journal")
        sinks.append(recorder)
    return sinks


def default_live_sources(config: Config, env=None) -> list[str]:
    """The live sources `finterm` uses without --source: `sources.use` when set, else X when a
    token is set, else Bluesky and StockTwits (no account needed)."""
    env = os.environ if env is None else env
    if config.sources.use:
        return list(config.sources.use)
    if env.get("X_BEARER_TOKEN") or config.x.bearer_token:
        return ["x"]
    return ["bluesky", "stocktwits"]


def build_run(source_name: str, options: SourceOptions, config: Config, *, headless: bool = False,
              out: BinaryIO | None = None) -> Run:
    """Source, classifier, sinks and pipeline for one run; `out` is stdout's buffer when headless.

    `source_name` may name several live sources (`bluesky,stocktwits`): they are merged."""
    from finterm.pipeline.runner import Pipeline

    source = build_sources(source_name, options, config)
    batch_scoring = is_batch_scoring(source_name, options, headless)
    classifier = build_classifier(config, batch_scoring=batch_scoring)
    sinks = build_sinks(config)
    size = config.batching.batch_size
    if not headless:
        return Run(Pipeline(source, classifier, sinks, size, config.batching.max_wait_ms, limit=options.limit))

    from finterm.sinks.jsonl import JsonlSink

    box: list = []
    jsonl = JsonlSink(out if out is not None else sys.stdout.buffer, on_closed=lambda: box[0].stop())
    # Batch scoring hands the classifier big chunks, which it sorts by length into batches
    # of nearly equal length (less padding); the first chunk is one batch, for a quick first line.
    chunk = max(BATCH_SCORING_CHUNK, size) if batch_scoring else size
    pipeline = Pipeline(source, classifier, [jsonl, *sinks], chunk, config.batching.max_wait_ms,
                        ui_batches=False, first_batch_size=size, limit=options.limit)
    box.append(pipeline)
    return Run(pipeline, jsonl)
