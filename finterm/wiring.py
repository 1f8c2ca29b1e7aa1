"""The one place a run is assembled: config + flags -> source -> pipeline -> sinks.

The command line (`finterm/cli.py`), the label review, bench/ and tests all build their
runs here, so a source, a sink or an engine setting is wired once. Input errors surface
while the source is built, before any model loads (a bad file fails in milliseconds).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
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
    #: The alerts sink (in the pipeline's sinks) when the config has rules or --alerts was given.
    alerts: object | None = None
    #: Recording to a file with rows: its last `ui.history_hours` as scored posts, and the alerts
    #: the rules raised over them (marked history); the screen shows both before going live.
    history: list = field(default_factory=list)
    history_alerts: list = field(default_factory=list)

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
              out: BinaryIO | None = None, alerts: str | None = None) -> Run:
    """Source, classifier, sinks and pipeline for one run; `out` is stdout's buffer when headless.

    `source_name` may name several live sources (`bluesky,stocktwits`): they are merged."""
    from finterm.pipeline.runner import Pipeline

    source = build_sources(source_name, options, config)
    batch_scoring = is_batch_scoring(source_name, options, headless)
    classifier = build_classifier(config, batch_scoring=batch_scoring)
    sinks = build_sinks(config)
    extras = _alerts_and_history(config, sinks, classifier, alerts)
    size = config.batching.batch_size
    if not headless:
        run = Run(Pipeline(source, classifier, sinks, size, config.batching.max_wait_ms, limit=options.limit))
        return extras.attach(run, ui=True)

    from finterm.sinks.jsonl import JsonlSink

    box: list = []
    jsonl = JsonlSink(out if out is not None else sys.stdout.buffer, on_closed=lambda: box[0].stop())
    # Batch scoring hands the classifier big chunks, which it sorts by length into batches
    # of nearly equal length (less padding); the first chunk is one batch, for a quick first line.
    chunk = max(BATCH_SCORING_CHUNK, size) if batch_scoring else size
    pipeline = Pipeline(source, classifier, [jsonl, *sinks], chunk, config.batching.max_wait_ms,
                        ui_batches=False, first_batch_size=size, limit=options.limit)
    box.append(pipeline)
    return extras.attach(Run(pipeline, jsonl), ui=False)


def build_alerts(config: Config, path: str | None = None, topics: list[str] | None = None):
    """The alerts sink for the config's rules (topics checked against the topic model's labels)
    and `--alerts FILE`; None when there are neither. ConfigError names a bad rule (exit 2)."""
    from finterm.alerts.rules import parse_rules
    from finterm.alerts.sink import AlertSink

    rules = parse_rules(config.alerts.rules, str(config.path or "the config"), topics)
    if not rules and not path:
        return None
    if not rules:
        say(f"warning: --alerts {path}: the config has no alert rules (alerts.rules), so no alert will be written")
    return AlertSink(rules, path, command=config.alerts.command, command_timeout_s=config.alerts.command_timeout_s)


@dataclass
class _Extras:
    alerts: object | None = None
    history: list = field(default_factory=list)
    history_alerts: list = field(default_factory=list)

    def attach(self, run: Run, ui: bool) -> Run:
        run.alerts, run.history, run.history_alerts = self.alerts, self.history, self.history_alerts
        if ui and self.alerts is not None:  # the screen hears of alerts through the pipeline's events
            self.alerts.listeners.append(run.pipeline.events.put)
        return run


def _alerts_and_history(config: Config, sinks: list, classifier, alerts_path: str | None) -> _Extras:
    """The alerts sink (appended to `sinks`) and, when recording to a file with rows, its recent
    history, run through the rules so their baselines and cooldowns carry over."""
    topics = (getattr(classifier, "labels", None) or {}).get("topic")
    sink = build_alerts(config, alerts_path, topics)
    extras = _Extras(alerts=sink)
    if sink is not None:
        sinks.append(sink)
    if config.record and config.ui.history_hours > 0:
        from finterm.store.history import load_recent

        try:
            extras.history = load_recent(config.record, config.ui.history_hours)
        except Exception as exc:  # history is a convenience: a file it cannot read never stops the run
            log.warning("history of %s not loaded: %s", config.record, exc)
            say(f"warning: {config.record}: its history could not be read ({exc.__class__.__name__}); starting empty")
        if extras.history:
            log.info("history: %d posts from the last %g h of %s", len(extras.history), config.ui.history_hours, config.record)
            if sink is not None:
                extras.history_alerts = sink.warm(extras.history)
    return extras
