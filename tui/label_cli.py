"""`finterm label FILE`: score a replay file and review the least certain tweets first.

    finterm label tweets.csv [--task topic] [--labels PATH]      review in the terminal
    finterm label --export OUT.csv --task sentiment [--labels PATH]   text,label for finterm-train

The labels file is `--labels`, else the config's `labels_file`, else the user's data folder
(store/labels.py). Errors end as one line `finterm label: <message>` with the exit code of
their kind, like the monitor's.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from finterm.config import ENGINES
from finterm.errors import FintermError, InputError, exit_code_for

log = logging.getLogger("finterm.label")

SCORE_BATCH = 256


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="finterm label", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("file", nargs="?", metavar="FILE", help="parquet, CSV or JSONL with created_at and text (as --replay)")
    p.add_argument("--task", choices=("sentiment", "topic"), default="sentiment", help="what to review or export first (default sentiment; m switches)")
    p.add_argument("--labels", metavar="PATH", help="labels file (default: config labels_file, else ~/.local/share/finterm/labels.parquet)")
    p.add_argument("--export", metavar="OUT", help="write the reviewed labels of --task as text,label (.csv or .parquet) and exit")
    p.add_argument("--config", metavar="PATH", help="config file (as for finterm)")
    p.add_argument("--engine", choices=ENGINES, help="inference engine (default: config, auto)")
    p.add_argument("--sentiment-model", metavar="DIR", help="sentiment model folder")
    p.add_argument("--topic-model", metavar="DIR", help="topic model folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from finterm.signals import StopController, Stopped

    stop = StopController().install()  # SIGINT/SIGTERM: a line saying where it stopped, exit 130/143
    try:
        return run(args, stop)
    except Stopped as exc:
        _say(f"stopped by {exc} while starting (loading the models); no labels changed")
        return exc.exit_code
    except (FintermError, KeyboardInterrupt, Exception) as exc:
        return exit_code_for(exc, _say, log)
    finally:
        stop.uninstall()


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"finterm label: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def labels_path(args, config) -> Path:
    from finterm.store.labels import default_labels_path

    return Path(args.labels or config.labels_file or default_labels_path()).expanduser()


def run(args: argparse.Namespace, stop=None) -> int:
    from finterm.config import load_config
    from finterm.store.labels import LabelStore, export_labels, journal_path

    config = load_config(args.config)
    path = labels_path(args, config)
    if args.export:
        if not path.is_file() and not journal_path(path).is_file():
            raise InputError(f"{path}: no labels file yet (review some tweets first, or give --labels)")
        n = export_labels(path, args.export, args.task)
        _say(f"{n:,} {args.task} labels written to {args.export}")
        return 0
    if not args.file:
        raise InputError("give a FILE to review (or --export OUT)")
    items = score_file(args, config, stop)
    if stop is not None and stop.requested:
        return stop.exit_code or 1
    store = LabelStore(path)

    from finterm.tui.logs import log_to_file
    from finterm.tui.review_app import ReviewApp

    log_to_file(config.log_file)
    app = ReviewApp(items, store, args.task, source=Path(args.file).name, theme=config.ui.theme)
    if stop is not None:
        from finterm.tui.stopping import quit_on_stop

        quit_on_stop(app, stop)
    app.run()  # its unmount folds the corrections into the labels file
    _say(f"{len(store):,} labels in {path}")
    if stop is not None and stop.requested:
        return stop.exit_code or 1
    return 0


def score_file(args, config, stop=None) -> list:
    """Every row of FILE scored by the configured models (input errors before the models load).
    A stop signal ends the scoring after the chunk in flight, with a line saying how far it got."""
    from finterm.records import make_tweet
    from finterm.sources.replay import BrokenRecord, ReplayFile
    from finterm.wiring import build_classifier

    rows = []
    try:
        rows.extend(ReplayFile(args.file, warn=lambda m: _say(f"warning: {m}")).rows())
    except BrokenRecord as exc:  # a broken record near the end: the rows before it are still worth a review
        if not rows:
            raise
        _say(f"warning: {exc.message}; reviewing the {len(rows):,} rows before it")
    tweets = [make_tweet(r.id, r.created_at, r.user, r.text, tickers=r.symbols, lang=r.lang, source="label")
              for r in rows]
    config.models.sentiment = args.sentiment_model or config.models.sentiment
    config.models.topic = args.topic_model or config.models.topic
    config.engine = args.engine or config.engine
    clf = build_classifier(config, batch_scoring=True, progress=log.info)
    if stop is not None:
        stop.running()
    tty = sys.stderr.isatty()
    out = []
    for i in range(0, len(tweets), SCORE_BATCH):
        if stop is not None and stop.requested:
            if tty:
                sys.stderr.write("\n")
            _say(f"stopped by {stop.name} · {len(out):,} of {len(tweets):,} tweets scored; no labels changed")
            return out
        out.extend(clf.score(tweets[i : i + SCORE_BATCH]))
        if tty:
            sys.stderr.write(f"\rfinterm label: scored {len(out):,} / {len(tweets):,}")
            sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")
    return out
