"""The `finterm` command: parse flags, then hand the run (built in wiring.py) to a front end:
the screen (tui/) or headless (headless.py).

Every failure a user can act on ends as one line `finterm: <message>` on stderr with the
exit code of its kind (2 input/config, 3 models/engine); tracebacks go to the log file only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from finterm.config import ENGINES
from finterm.errors import FintermError, InputError, exit_code_for

log = logging.getLogger("finterm.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finterm",
        description="Finance tweets scored for sentiment and topic on the CPU, in the terminal.",
        epilog="Without --demo, --replay or --source, finterm goes live on Bluesky and StockTwits (no account needed), "
               "or on X when X_BEARER_TOKEN is set (or on `sources.use` from the config). "
               "`finterm label FILE` reviews and corrects the models' labels (see `finterm label --help`). "
               "`finterm score INPUT... -o OUT` scores archives into parquet (see `finterm score --help`).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="built-in market simulator (no network)")
    src.add_argument("--replay", metavar="FILE", help="replay a parquet, CSV or JSONL file (created_at, text; id, user, symbols optional)")
    p.add_argument("--source", metavar="NAME[,NAME]", help="live sources, merged into one feed: bluesky (no account), "
                   "stocktwits (no key), x (needs X_BEARER_TOKEN); or demo")
    p.add_argument("--speed", default="1", metavar="X|max", help="replay/demo pace: recorded pace times X, or max (default 1)")
    p.add_argument("--skip", type=_non_negative_int, default=0, metavar="N", help="replay: start after the first N rows "
                   "(a stopped run's summary gives the N that resumes it)")
    p.add_argument("--headless", action="store_true", help="no UI: one JSON object per scored tweet on stdout")
    p.add_argument("--record", metavar="OUT.parquet", help="append everything scored to a parquet file (crash-safe)")
    p.add_argument("--alerts", metavar="FILE", help="append one JSON object per alert (rules: `alerts:` in the config) to FILE")
    p.add_argument("--engine", choices=ENGINES, help="inference engine (default: config, auto)")
    p.add_argument("--sentiment-model", metavar="DIR", help="sentiment model folder (default: see --model, else assets/models/sentiment)")
    p.add_argument("--topic-model", metavar="DIR", help="topic model folder (default: see --model, else assets/models/topic)")
    p.add_argument("--model", metavar="DIR", help="one model folder with a head per task (default: assets/models/finterm "
                   "when installed); --sentiment-model / --topic-model win for their task")
    p.add_argument("--batch-size", type=_positive_int, metavar="N", help="largest micro-batch (default 16)")
    p.add_argument("--max-wait-ms", type=_non_negative_float, metavar="MS", help="longest wait to fill a batch (default 0: score what is waiting)")
    p.add_argument("--config", metavar="PATH", help="config file (else $FINTERM_CONFIG, ~/.config/finterm/config.yaml, ./config.yaml)")
    p.add_argument("--seed", type=int, help="demo: random seed (same seed, same tweets)")
    p.add_argument("--rate", type=_positive_float, metavar="N", help="demo: mean tweets per second outside news bursts")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N scored posts, any source (default: to the end)")
    p.add_argument("--version", action="version", version=f"finterm {_version()}")
    return p


def _version() -> str:
    from finterm import __version__

    return __version__


def _number(parse, ok, need: str, what: str):
    """An argparse type: `parse` the text, then refuse values `ok` rejects with `need`."""
    def check(s: str):
        try:
            v = parse(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not {what}") from None
        if not ok(v) or v == float("inf"):
            raise argparse.ArgumentTypeError(need)
        return v

    return check


_positive_int = _number(int, lambda v: v >= 1, "must be at least 1", "a whole number")
_positive_float = _number(float, lambda v: v > 0, "must be a positive number", "a number")
_non_negative_float = _number(float, lambda v: v >= 0, "must be zero or more", "a number")
_non_negative_int = _number(int, lambda v: v >= 0, "must be zero or more", "a whole number")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["label"]:  # `finterm label FILE`: the review screen has its own flags
        from finterm.tui.label_cli import main as label_main

        return label_main(argv[1:])
    if argv[:1] == ["score"]:  # `finterm score INPUT... -o OUT`: archive scoring has its own flags
        from finterm.archive.cli import main as score_main

        return score_main(argv[1:])
    args = build_parser().parse_args(argv)
    from finterm.signals import StopController, Stopped

    stop = StopController().install()  # before the models load: a signal then still gets its line
    try:
        return run(args, stop)
    except Stopped as exc:
        _say(f"stopped by {exc} while starting (loading the models); nothing scored")
        return exc.exit_code
    except (FintermError, KeyboardInterrupt, Exception) as exc:
        return exit_code_for(exc, _say, log)
    finally:
        stop.uninstall()


def _say(message: str) -> None:
    from finterm.wiring import say

    say(message)


def run(args: argparse.Namespace, stop=None) -> int:
    """One run from parsed flags; `stop` (finterm/signals.py) turns SIGINT/SIGTERM into a prompt
    stop with a summary and exit code 130/143."""
    from finterm.config import load_config
    from finterm.sources.base import SourceOptions, parse_speed
    from finterm.wiring import build_run

    config = load_config(args.config)
    _apply_overrides(config, args)
    log_path = _setup_logging(config.log_file)
    log.info("finterm starting (config %s, log %s)", config.path or "defaults", log_path)
    try:
        speed = parse_speed(args.speed)
    except ValueError as exc:
        raise InputError(f"--speed: {exc}") from None
    name = source_name(args, speed)
    live_default = name == _LIVE_DEFAULT
    if live_default:  # no source named: the free live sources, or X with a token, or `sources.use`
        from finterm.wiring import default_live_sources

        name = ",".join(default_live_sources(config))

    def warn(msg: str) -> None:
        log.warning(msg)
        _say(f"warning: {msg}")

    if args.skip and not args.replay:
        raise InputError("--skip goes with --replay")
    options = SourceOptions(speed=speed, limit=args.limit, replay_path=Path(args.replay) if args.replay else None,
                            skip=args.skip, warn=warn)
    run_ = build_run(name, options, config, headless=args.headless, alerts=args.alerts)
    if live_default:  # said once the sources are built (a missing token or watchlist is said first)
        names = name.split(",")
        _say(f"live on {_and(names)}" + ("" if "x" in names else " (no account needed; no X token set)")
             + "; --demo plays a simulated market, --source picks sources")
    if args.headless:
        from finterm.headless import run_headless

        return run_headless(run_.pipeline, run_.jsonl, stop=stop)

    from finterm.tui.app import FintermApp  # lazily: headless runs never import Textual

    pipeline = run_.pipeline
    app = FintermApp(pipeline=pipeline, config=config, history=run_.history, history_alerts=run_.history_alerts)
    if stop is not None:
        from finterm.tui.stopping import quit_on_stop

        stop.running(pipeline.stop)
        quit_on_stop(app, stop)
    app.run()
    pipeline.stop()
    pipeline.finish()  # the batch in flight, briefly; the sinks closed
    from finterm.headless import leave, stop_line

    if stop is not None and stop.requested:  # the screen is gone: say where the run stopped
        sys.stderr.write(stop_line(pipeline, stop.name) + "\n")
        return leave(pipeline, stop.exit_code or 1, now=True)
    if pipeline.failed:
        _say(pipeline.failed)
        return leave(pipeline, 1)
    return leave(pipeline, 0)


#: What source_name returns when no source was named: the caller picks the live default.
_LIVE_DEFAULT = "(live default)"


def source_name(args: argparse.Namespace, speed: float | None) -> str:
    """The source the flags ask for (several live ones joined by commas); flags that do not go
    with it are refused here."""
    if getattr(args, "source", None):
        from finterm.sources.registry import parse_names

        if args.demo or args.replay:
            raise InputError("--source goes alone: not with --demo or --replay")
        names = parse_names(args.source)
        if names == ["replay"]:
            raise InputError("a replay needs its file: --replay FILE")
        if names == ["demo"]:
            return "demo"
        if args.seed is not None or args.rate:
            raise InputError("--seed and --rate go with --demo")
        if speed != 1.0:
            raise InputError("--speed goes with --replay or --demo; the live feed runs at the pace of the world")
        return ",".join(names)
    if args.replay:
        if args.seed is not None or args.rate:
            raise InputError("--seed and --rate go with --demo, not --replay")
        return "replay"
    if args.demo:
        return "demo"
    if args.seed is not None or args.rate:
        raise InputError("--seed and --rate go with --demo")
    if speed != 1.0:
        raise InputError("--speed goes with --replay or --demo; the live feed runs at the pace of the world")
    return _LIVE_DEFAULT


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _apply_overrides(config, args) -> None:
    """Command-line flags win over the config file."""
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


if __name__ == "__main__":
    raise SystemExit(main())
