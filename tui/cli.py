"""The `finterm` command: parse flags, pick a source, load the models, run UI or headless.

Every failure a user can act on ends as one line `finterm: <message>` on stderr with the
exit code of its kind (2 input/config, 3 models/engine); tracebacks go to the log file only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from finterm.engine.errors import ConfigError, FintermError, InputError

log = logging.getLogger("finterm.cli")

#: Batch scoring: tweets per classifier call (sorted by length into batches inside, so each
#: batch pads little). DeepSparse compiles the 32- and 64-token shapes; finer lengths padded
#: less but cost more compiles and memory than they saved (BENCHMARKS.md).
BATCH_SCORING_CHUNK = 256

NO_CREDENTIALS = ("no X credentials: set X_BEARER_TOKEN (or x.bearer_token in config.yaml) for the live feed, "
                  "or get going with `finterm --demo` or `finterm --replay FILE`")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finterm",
        description="Finance tweets scored for sentiment and topic on the CPU, in the terminal.",
        epilog="Without --demo or --replay, finterm follows the live X stream (needs X_BEARER_TOKEN). "
               "`finterm label FILE` reviews and corrects the models' labels (see `finterm label --help`).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="built-in market simulator (no network)")
    src.add_argument("--replay", metavar="FILE", help="replay a parquet, CSV or JSONL file (created_at, text; id, user, symbols optional)")
    p.add_argument("--speed", default="1", metavar="X|max", help="replay/demo pace: recorded pace times X, or max (default 1)")
    p.add_argument("--headless", action="store_true", help="no UI: one JSON object per scored tweet on stdout")
    p.add_argument("--record", metavar="OUT.parquet", help="append everything scored to a parquet file (crash-safe)")
    p.add_argument("--engine", choices=("auto", "deepsparse", "onnxruntime"), help="inference engine (default: config, auto)")
    p.add_argument("--sentiment-model", metavar="DIR", help="sentiment model folder (default: assets/models/sentiment)")
    p.add_argument("--topic-model", metavar="DIR", help="topic model folder (default: assets/models/topic)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N", help="largest micro-batch (default 16)")
    p.add_argument("--max-wait-ms", type=_non_negative_float, metavar="MS", help="longest wait to fill a batch (default 0: score what is waiting)")
    p.add_argument("--config", metavar="PATH", help="config file (else $FINTERM_CONFIG, ~/.config/finterm/config.yaml, ./config.yaml)")
    p.add_argument("--seed", type=int, help="demo: random seed (same seed, same tweets)")
    p.add_argument("--rate", type=_positive_float, metavar="N", help="demo: mean tweets per second outside news bursts")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="demo: stop after N tweets (default: endless)")
    p.add_argument("--version", action="version", version=f"finterm {_version()}")
    return p


def _version() -> str:
    from finterm import __version__

    return __version__


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return v


def _non_negative_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError("must be zero or more")
    return v


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["label"]:  # `finterm label FILE`: the review screen has its own flags
        from finterm.tui.label_cli import main as label_main

        return label_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except FintermError as exc:
        log.info("exit %d: %s", exc.exit_code, exc.message)
        _say(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: the details go to the log, one line to the user
        log.exception("unexpected error")
        _say(f"unexpected error: {exc.__class__.__name__}: {str(exc)[:200]} (details in the log file)")
        return 1


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"finterm: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    from finterm.feed.config import load_config
    from finterm.feed.sources.base import parse_speed

    config = load_config(args.config)
    _apply_overrides(config, args)
    log_path = _setup_logging(config.log_file)
    log.info("finterm starting (config %s, log %s)", config.path or "defaults", log_path)
    try:
        speed = parse_speed(args.speed)
    except ValueError as exc:
        raise InputError(f"--speed: {exc}") from None

    source = make_source(args, config, speed)
    # Batch scoring (a replay at max speed, headless) wants throughput, everything else latency.
    batch_scoring = bool(args.headless and args.replay and speed is None)
    classifier = make_classifier(config, batch_scoring=batch_scoring)
    sinks = []
    if config.record:
        from finterm.feed.recorder import Recorder

        recorder = Recorder(config.record)
        if recorder.recovered_rows:
            _say(f"warning: {recorder.path}: merged {recorder.recovered_rows:,} rows that an interrupted recording had left in its journal")
        sinks.append(recorder)

    from finterm.feed.pipeline import Pipeline

    if args.headless:
        from finterm.feed.headless import JsonlSink, run_headless

        pipeline_box: list = []
        out = JsonlSink(sys.stdout.buffer, on_closed=lambda: pipeline_box[0].stop())
        # Batch scoring hands the classifier big chunks, which it sorts by length into batches
        # of nearly equal length (less padding); the first chunk is one batch, for a quick first line.
        chunk = max(BATCH_SCORING_CHUNK, config.batching.batch_size) if batch_scoring else config.batching.batch_size
        pipeline = Pipeline(source, classifier, [out, *sinks], chunk, config.batching.max_wait_ms,
                            ui_batches=False, first_batch_size=config.batching.batch_size)
        pipeline_box.append(pipeline)
        return run_headless(pipeline, out)

    pipeline = Pipeline(source, classifier, sinks, config.batching.batch_size, config.batching.max_wait_ms)
    from finterm.tui.app import FintermApp  # lazily: headless runs never import Textual

    FintermApp(pipeline=pipeline, config=config).run()
    pipeline.stop()
    pipeline.join(timeout=10)
    if pipeline.failed:
        _say(pipeline.failed)
        return 1
    return 0


def _apply_overrides(config, args) -> None:
    """Command-line flags win over the config file."""
    if args.engine:
        config.engine = args.engine
    if args.sentiment_model:
        config.models.sentiment = args.sentiment_model
    if args.topic_model:
        config.models.topic = args.topic_model
    if args.batch_size:
        config.batching.batch_size = args.batch_size
    if args.max_wait_ms is not None:
        config.batching.max_wait_ms = args.max_wait_ms
    if args.record:
        config.record = args.record
    if args.seed is not None:
        config.demo.seed = args.seed
    if args.rate:
        config.demo.rate = args.rate


def _setup_logging(log_file: str | None) -> Path | None:
    from finterm.tui.logs import log_to_file

    path = log_to_file(log_file)
    if path is None:  # no writable log file: stay silent rather than spill onto stderr
        logging.getLogger("finterm").addHandler(logging.NullHandler())
        logging.getLogger("finterm").propagate = False
    return path


def make_source(args, config, speed):
    """The source the flags ask for; input errors surface here, before any model loads."""
    if args.replay:
        if args.limit or args.seed is not None or args.rate:
            raise InputError("--seed, --rate and --limit go with --demo, not --replay")
        from finterm.feed.sources.replay import ReplaySource

        def warn(msg: str) -> None:
            log.warning(msg)
            _say(f"warning: {msg}")

        return ReplaySource(args.replay, speed=speed, warn=warn)
    if args.demo:
        from finterm.feed.sources.demo import DemoSource

        return DemoSource(seed=config.demo.seed, rate=config.demo.rate, limit=args.limit, speed=speed)
    if args.limit or args.seed is not None or args.rate:
        raise InputError("--seed, --rate and --limit go with --demo")
    if speed != 1.0:
        raise InputError("--speed goes with --replay or --demo; the live feed runs at the pace of the world")
    token = os.environ.get("X_BEARER_TOKEN") or config.x.bearer_token
    if not token:
        raise ConfigError(NO_CREDENTIALS)
    try:
        from finterm.feed.sources.xstream import XStreamSource
    except ImportError:
        raise InputError("the live X source is not available in this build; use `finterm --demo` or `finterm --replay FILE`") from None
    return XStreamSource(config)  # it reads the token from the environment or config itself


def make_classifier(config, batch_scoring: bool = False):
    """Both models on the chosen engine; ModelError/EngineError (exit 3) name what is missing.

    DeepSparse compiles one engine per shape (1-1.6 s each on one core here). Live, they
    compile one at a time in the background and ONNX Runtime scores meanwhile on the other
    core, so the first tweet shows within a second. Batch scoring compiles two at a time, in
    the order they are needed, and a batch waits for its shape: ONNX Runtime runs these int8
    files at a third to a half of DeepSparse's speed, so bridging cost more than it saved
    (BENCHMARKS.md).
    """
    from finterm.engine.classifier import Classifier

    tty = sys.stderr.isatty()

    def progress(message: str) -> None:  # DeepSparse compiles take seconds: say so on a terminal
        log.info(message)
        if tty:
            _say(message)

    clf = Classifier(config.models.sentiment, config.models.topic, engine=config.engine,
                     batch_size=config.batching.batch_size, on_progress=progress,
                     compile_jobs=(os.cpu_count() or 1) if batch_scoring else 1)
    if batch_scoring:  # full batches of the common lengths; ONNX Runtime starts, and takes the rare long tweets
        clf.warmup(lengths=(32, 64), rows=(config.batching.batch_size,), bridge="first")
    else:  # full batches first (a lone tweet pads to one: a few ms), then single tweets
        clf.warmup(lengths=(32, 64), rows=(config.batching.batch_size, 1))
    log.info("classifier: %s", clf.describe())
    return clf


if __name__ == "__main__":
    raise SystemExit(main())
