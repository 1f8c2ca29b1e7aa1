"""`finterm score INPUT... -o OUT`: score archives of posts into a parquet dataset, resumably,
on this machine or on Ray Data (`--ray [ADDRESS]`).

Exit codes: 0 done; 1 a file broke off (its good rows were scored, the line is named) or an
unexpected error; 2 bad input or config; 3 models or engine; 130/143 stopped by SIGINT/SIGTERM
(finished parts kept: the same command goes on from them).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from finterm.config import ENGINES
from finterm.errors import FintermError, InputError, exit_code_for
from finterm.signals import StopController, Stopped

from .inputs import DEFAULT_CHUNK_ROWS, Columns, check_file, estimate_rows, expand_inputs
from .local import ProgressBar, RunStats, run_local
from .parts import REJECTS, OutputDir, model_identity
from .scoring import ChunkScorer

log = logging.getLogger("finterm.archive")

#: Tickers named in the summary.
TOP_TICKERS = 10

EPILOG = """\
The output folder gets one parquet part per input chunk (the input's columns, then tickers,
sentiment, sentiment_score, topic, topic_score; with --probs a struct of every label's
probability per task), _rejects.jsonl (each row that could not be scored, with its file, row and
reason) and _manifest.jsonl (the finished parts). Stopped (Ctrl-C, SIGTERM), the same command
goes on where it stopped: finished parts are kept and skipped. Labels are the ones
`finterm --replay FILE --headless` gives: same text rules, same models.

When is --ray worth it? A local Ray costs about 6 s to start and plan, about 1.2 GB of memory
for Ray itself, and each worker loads its own copy of the models (~650 MB). On one machine the
plain scorer is as fast (measured on 2 cores, 50,000 rows: 119 s; Ray with 2 workers 118 s,
with 1 worker 128 s; BENCHMARKS.md, "Archive scoring"): use --ray for archives of millions of
rows on a cluster of several machines (--ray ADDRESS), where rows/s grow with the workers
(~230 rows/s per one-core worker here); without an address it starts a local Ray (a way to try
the cluster setup). Inputs and OUT must be reachable under the same paths from every node.
"""


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finterm score",
        description="Score archives of posts (parquet, CSV or JSONL files, folders or globs) for sentiment and "
                    "topic into a parquet dataset; resumable, with a progress bar.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders (searched recursively) or globs "
                   "(quote them: 'data/**/*.parquet')")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created; a rerun resumes it)")
    p.add_argument("--probs", action="store_true", help="add every label's probability (sentiment_probs, topic_probs)")
    p.add_argument("--text-col", default="text", metavar="NAME", help="column with the post's text (default: text)")
    p.add_argument("--time-col", default="created_at", metavar="NAME", help="column with the post's time (default: created_at)")
    p.add_argument("--id-col", default="id", metavar="NAME", help="column with the post's id, named in rejects (default: id)")
    p.add_argument("--chunk-rows", type=_positive_int, default=DEFAULT_CHUNK_ROWS, metavar="N",
                   help=f"rows per part (default {DEFAULT_CHUNK_ROWS}); memory holds one chunk at a time")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run on Ray Data: the cluster at ADDRESS (ray://host:10001, host:6379 or auto), or a local Ray "
                        "without one (needs pip install \"finterm[ray]\"; see below for when it pays)")
    p.add_argument("--workers", type=_positive_int, metavar="N", help="--ray: scoring actors (default: the cluster's CPUs / --threads)")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="cores per scorer (default: all of them on one machine; 1 per --ray worker)")
    p.add_argument("--engine", choices=ENGINES, help="inference engine (default: config, auto)")
    p.add_argument("--sentiment-model", metavar="DIR", help="sentiment model folder (default: the shipped one)")
    p.add_argument("--topic-model", metavar="DIR", help="topic model folder (default: the shipped one)")
    p.add_argument("--model", metavar="DIR", help="one model folder with a head per task (as for finterm --model)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N", help="rows per model batch (default: config, 16)")
    p.add_argument("--config", metavar="PATH", help="config file (else $FINTERM_CONFIG, ~/.config/finterm/config.yaml, ./config.yaml)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn only on a terminal anyway)")
    return p


def _looks_like_address(value: str) -> bool:
    return value == "auto" or "://" in value or re.fullmatch(r"[\w.-]+:\d+", value) is not None


def _say(message: str) -> None:
    from finterm.wiring import say

    say(message)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[2:] if argv is None else argv)
    if args.ray and not _looks_like_address(args.ray):  # `--ray data/`: a local Ray and one more input
        args.inputs.insert(0, args.ray)
        args.ray = ""
    # The main thread scores: a signal raises Stopped where it is (finterm/signals.py), except
    # while a part and its manifest line are written.
    stops = StopController().install()
    stops.on_force(_say_forced)
    try:
        code = run(args, stops)
    except Stopped:  # before any scoring (inputs, models, Ray starting)
        _say(f"stopped by {stops.name} while starting: nothing scored by this run")
        code = stops.exit_code or 143
    except (FintermError, KeyboardInterrupt, Exception) as exc:
        return exit_code_for(exc, _say, log)
    finally:
        stops.uninstall()
    if stops.requested:
        _exit_now(code)
    return code


def _say_forced(signum: int) -> None:
    """A second signal: one line, then the process ends at once (inside the signal handler:
    a plain write, no logging)."""
    from finterm.signals import signal_name

    try:
        sys.stderr.write(f"\nfinterm: {signal_name(signum)} again: exiting at once (finished parts are kept)\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _exit_now(code: int) -> None:
    """After a stop, leave at once: every part, the manifest and the rejects are written and
    synced, and the interpreter's own exit would first wait for a DeepSparse compile in progress
    (engine/compile_queue.py lets it finish, seconds to tens of seconds)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _config(args):
    from finterm.config import load_config

    config = load_config(args.config)
    if args.engine:
        config.engine = args.engine
    if args.sentiment_model:
        config.models.sentiment = args.sentiment_model
    if args.topic_model:
        config.models.topic = args.topic_model
    if args.model:
        config.models.model = args.model
    if args.batch_size:
        config.batching.batch_size = args.batch_size
    return config


def run(args: argparse.Namespace, stops: StopController) -> int:
    from finterm.tui.logs import log_to_file

    if args.workers and args.ray is None:
        raise InputError("--workers goes with --ray (one machine scores with one process; --threads sets its cores)")
    config = _config(args)
    if log_to_file(config.log_file) is None:
        logging.getLogger("finterm").addHandler(logging.NullHandler())
    columns = Columns(text=args.text_col, time=args.time_col, id=args.id_col)
    out_path = Path(args.output).expanduser()
    files = expand_inputs(args.inputs, exclude=out_path)
    for f in files:
        check_file(f, columns)
    use_ray = args.ray is not None
    if use_ray:
        from .ray_job import ray_unavailable_reason

        reason = ray_unavailable_reason()
        if reason:
            raise InputError(reason)
    settings = {"chunk_rows": args.chunk_rows, "columns": columns.as_dict(), "probs": args.probs}
    out = OutputDir(out_path, settings)
    for line in out.reconcile(files):
        _say(f"warning: {line}")
    total = sum(estimate_rows(f) for f in files)
    done_rows = sum(e["read"] for (path, _), e in out.entries.items() if path in {str(f.path) for f in files})
    progress = ProgressBar(total, done_rows, enabled=False if args.no_progress else None)
    stats = RunStats()
    engine = ""
    interrupted = False
    log.info("finterm score: %d files, %s rows estimated, OUT %s, %s", len(files), f"{total:,}", out.path,
             "ray" if use_ray else "local")
    try:
        if use_ray:
            engine = _run_ray(args, config, files, out, columns, stops, stats, progress)
        else:
            engine = _run_local(args, config, files, out, columns, stops, stats, progress)
    except Stopped:
        interrupted = True
    finally:
        progress.close()
        with stops.critical_quiet():
            rejected_file = out.rebuild_rejects(files)
    _summary(out, stats, engine, interrupted, stops, rejected_file)
    if interrupted:
        return stops.exit_code or 143
    return 1 if stats.broken else 0


def _run_local(args, config, files, out, columns, stops, stats, progress) -> str:
    from finterm.wiring import build_classifier

    progress.note = "loading models"
    progress.draw(force=True)

    def on_engine(message: str) -> None:  # DeepSparse compiles: a note on the bar, not lines under it
        log.info(message)
        progress.note = "DeepSparse compiling" if message.startswith("compiling") else ""

    clf = build_classifier(config, batch_scoring=True, progress=on_engine, threads=args.threads or 0)
    models = model_identity(clf)
    out.check_models(models)
    progress.note = ""
    scorer = ChunkScorer(clf, columns, probs=args.probs, check_stop=stops.check, on_rows=progress.advance)
    engine = getattr(clf, "engine_name", "?")
    stats.started = progress.t0 = _now()
    run_local(files, out, scorer, chunk_rows=args.chunk_rows, columns=columns, models=models, engine=engine,
              stops=stops, stats=stats, progress=progress)
    share = getattr(clf, "bridged_share", None)
    total, bridged = share() if callable(share) else (0, 0)
    if bridged:
        engine += f" ({bridged:,} of {total:,} model batches on onnxruntime while DeepSparse compiled)"
    return engine


def _run_ray(args, config, files, out, columns, stops, stats, progress) -> str:
    from .ray_job import default_workers, run_ray, start_ray, stop_ray

    threads = args.threads or 1
    progress.note = "starting Ray"
    progress.draw(force=True)
    try:
        resources = start_ray(args.ray or None)
        workers = args.workers or default_workers(resources, threads)
        progress.note = "workers loading models"
        stats.started = progress.t0 = _now()
        try:
            info = run_ray(files, out, config=config, columns=columns, probs=args.probs, chunk_rows=args.chunk_rows,
                           workers=workers, threads=threads, stops=stops, stats=stats, progress=progress)
        except (FintermError, Stopped):
            raise
        except Exception as exc:  # a worker or Ray itself failed: one line, the details in the log
            log.exception("the Ray job failed")
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[-1][:200]
            raise FintermError(f"the Ray job failed ({first}); its finished parts are kept: run the same command "
                               "again to go on (details in the log file)") from None
    finally:
        with stops.critical_quiet():
            stop_ray(local=not args.ray)
    where = f"Ray at {args.ray}" if args.ray else "a local Ray"
    peak = max(info["workers"].values(), default=0.0)
    memory = f", up to {peak:,.0f} MB each" if peak else ""
    return f"{info['engine'] or '?'} on {where}: {workers} worker{'s' if workers > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}{memory}"


def _now() -> float:
    import time

    return time.monotonic()


def _summary(out: OutputDir, stats: RunStats, engine: str, interrupted: bool, stops: StopController, rejected_file: int) -> None:
    t = out.totals()
    lines = [
        f"scored {stats.scored:,} rows and rejected {stats.rejected:,} of {stats.read:,} read in {stats.elapsed_s:.1f} s "
        f"({stats.rate:,.1f} rows/s) · {stats.parts:,} parts written, {stats.skipped:,} done before"
        + (f" · engine {engine}" if engine else ""),
        f"{out.path} holds {t['read']:,} rows read: {t['scored']:,} scored + {t['rejected']:,} rejected"
        + (f" (reasons in {REJECTS})" if rejected_file else "") + f", in {t['parts']:,} chunks",
    ]
    counts = out.ticker_counts()
    if counts:
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TICKERS]
        lines.append("tickers: " + " · ".join(f"{k} {v:,}" for k, v in top)
                     + (f" (of {len(counts):,})" if len(counts) > TOP_TICKERS else ""))
    lines.extend(stats.broken)
    if interrupted:
        last = f"; the last row scored was row {stats.last[1]:,} of {stats.last[0]}" if stats.last else ""
        lines.append(f"stopped by {stops.name}: the chunk in flight was dropped{last}; "
                     "run the same command again to go on")
    for line in lines:
        _say(line)
