"""The recent history of a recording, read back as scored posts (a restart picks up the picture).

When finterm records to a file that already has rows, the last `hours` of it (in post time,
counted back from the newest recorded post) are read back at start, so the panels, the
ticker charts and the alert rules' baselines start where the last run left them. Rows come
back in recording order (the order they were scored), with the labels they were given then;
nothing is scored again.
"""

from __future__ import annotations

import inspect
import logging
from datetime import timedelta
from pathlib import Path

from finterm.records import Scored, make_tweet, to_utc

from .recording_files import unmerged_rows

log = logging.getLogger("finterm.store.history")

#: The most rows read back (the newest ones): a firehose recording stays a quick start.
MAX_ROWS = 300_000
#: make_tweet's optional fields a recording may carry (newer recordings have more columns).
_EXTRA = ("url", "crowd_sentiment")


def load_recent(path: str | Path, hours: float, max_rows: int = MAX_ROWS) -> list[Scored]:
    """Posts of the last `hours` of the recording at `path` (plus rows still in its journal);
    [] when there is no file, no rows, or `hours` is 0."""
    import polars as pl

    p = Path(path).expanduser()
    if hours <= 0:
        return []
    frames = []
    if p.is_file():
        frames.append(pl.scan_parquet(p))
    extra = unmerged_rows(p)
    if extra:
        frames.append(pl.DataFrame(extra, strict=False).lazy())
    if not frames:
        return []
    lf = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    names = lf.collect_schema().names()
    if "created_at" not in names or "sentiment" not in names or "topic" not in names:
        return []  # not a finterm recording with labels: nothing to show as history
    lf = lf.with_columns(pl.col("created_at").cast(pl.Datetime("us", "UTC"), strict=False))
    newest = lf.select(pl.col("created_at").max()).collect().item()
    if newest is None:
        return []
    since = newest - timedelta(hours=hours)
    df = lf.filter(pl.col("created_at") > since).collect()
    if df.height > max_rows:
        log.info("%s: history of %d rows cut to the newest %d", p, df.height, max_rows)
        df = df.tail(max_rows)
    return [row for r in df.iter_rows(named=True) if (row := _scored(r)) is not None]


_MAKE_TWEET = set(inspect.signature(make_tweet).parameters)


def _scored(r: dict) -> Scored | None:
    if r.get("created_at") is None or r.get("sentiment") is None or r.get("topic") is None:
        return None
    symbols = r.get("symbols")
    extra = {k: r.get(k) for k in _EXTRA if k in _MAKE_TWEET and r.get(k) is not None}
    tw = make_tweet(r.get("id") or "", to_utc(r["created_at"]), r.get("user") or "", r.get("text") or "",
                    tickers=symbols.split() if isinstance(symbols, str) and symbols.strip() else None,
                    lang=r.get("lang"), source=r.get("source") or "", **extra)
    return Scored(tweet=tw, sentiment=str(r["sentiment"]), sentiment_score=float(r.get("sentiment_score") or 0.0),
                  topic=str(r["topic"]), topic_score=float(r.get("topic_score") or 0.0),
                  batch_latency_ms=float(r.get("batch_latency_ms") or 0.0))
