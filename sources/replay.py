"""Replay a file of tweets (parquet, CSV, JSONL) at its recorded pace times a speed factor.

The whole file is read and checked when the source is built, so a bad file is reported
before any model loads or the screen is taken; rows are turned into Tweets as they play.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from finterm.errors import InputError
from finterm.records import SourceStatus, make_tweet, stable_id
from finterm.store.recording_files import unmerged_rows

from .base import Emit, StatusFn

log = logging.getLogger("finterm.sources.replay")

REQUIRED = ("created_at", "text")
OPTIONAL = ("id", "user", "symbols", "lang", "url", "crowd_sentiment")
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: How often (seconds) a playing replay reports its position.
STATUS_EVERY_S = 0.5
#: Longest single sleep, so stop and speed changes are noticed quickly.
TICK_S = 0.1


@dataclass(frozen=True)
class Row:
    """One input row, checked: an aware UTC time and strings (or None) for the rest."""

    created_at: datetime
    id: str
    user: str
    text: str
    symbols: object = None
    lang: str | None = None
    #: A link to the original post and its author's own tag (recordings of live sources have them).
    url: str | None = None
    crowd_sentiment: str | None = None


def read_rows(path: str | Path, warn=None) -> list[Row]:
    """Read and check every row of a replay file; InputError (one line) when it cannot be used.

    `warn(message)` is called for each skipped garbled JSONL line and for rows played at the
    previous row's time because their created_at is missing or unreadable. A finterm
    recording's rows still in its journal (a running or killed recording) are included.
    """
    p = Path(path).expanduser()
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"{p}: unknown file type '{p.suffix or '(none)'}' (replay reads .parquet, .csv or .jsonl)")
    warn = warn or (lambda m: None)
    unmerged = _unmerged(p, warn) if fmt == "parquet" else []
    if not p.exists() and not unmerged:
        raise InputError(f"{p}: no such file")
    if p.exists() and not p.is_file():
        raise InputError(f"{p}: not a file")
    if fmt == "jsonl":
        records = _read_jsonl(p, warn)
        columns = set().union(*(r.keys() for r in records)) if records else set()
    else:
        records, columns = _read_table(p, fmt) if p.exists() else ([], set())
    if unmerged:
        warn(f"{p}: includes {len(unmerged):,} recorded rows not merged into the file yet (its recording "
             "is running or was killed; recording to the file again merges them)")
        records += unmerged
        columns |= set().union(*(r.keys() for r in unmerged))
    if not records:
        raise InputError(f"{p}: no rows to replay")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        have = ", ".join(sorted(map(str, columns))) or "none"
        raise InputError(f"{p}: missing column {', '.join(missing)} (replay needs created_at and text; the file has: {have})")
    return _timed_rows(p, records, warn)


def _unmerged(p: Path, warn) -> list[dict]:
    try:
        return unmerged_rows(p)
    except Exception as exc:  # an unreadable journal must not stop the replay of the file itself
        warn(f"{p}: cannot read the rows its recording has not merged yet ({exc.__class__.__name__}); replaying the file alone")
        return []


#: Rows with an unusable created_at that are named one by one before a count says the rest.
BAD_TIME_WARNINGS = 5


def _timed_rows(p: Path, records: list[dict], warn) -> list[Row]:
    """Rows in file order. One without a usable created_at is still played (a record is never
    dropped), at the time of the row before it, with a warning; a file with none is refused."""
    times = [parse_time(r.get("created_at")) for r in records]
    good = [t for t in times if t is not None]
    if not good:
        raise InputError(f"{p}: {_where(records[0], 0)}: {_time_problem(records[0])} (nor has any other row a usable one)")
    rows, last, bad = [], good[0], 0
    for i, (r, ts) in enumerate(zip(records, times)):
        if ts is None:
            bad += 1
            if bad <= BAD_TIME_WARNINGS:
                warn(f"{p}: {_where(r, i)}: {_time_problem(r)}; played at the time of the row before it")
            ts = last
        last = ts
        rows.append(_row(r, i, ts))
    if bad > BAD_TIME_WARNINGS:
        warn(f"{p}: {bad - BAD_TIME_WARNINGS:,} more rows without a usable created_at, played the same way")
    return rows


def _time_problem(r: dict) -> str:
    raw = r.get("created_at")
    return "no created_at" if raw is None else f"created_at {str(raw)[:40]!r} is not a timestamp"


def _where(r: dict, i: int) -> str:
    return f"line {r['_line']}" if "_line" in r else f"row {i + 1}"


def _read_table(p: Path, fmt: str) -> tuple[list[dict], set[str]]:
    import polars as pl

    try:
        if fmt == "csv":
            # Everything as text: ids keep their digits exactly as written.
            df = pl.read_csv(p, infer_schema=False, encoding="utf8-lossy")
        else:
            df = pl.read_parquet(p)
    except pl.exceptions.NoDataError:
        raise InputError(f"{p}: the file is empty") from None
    except Exception as exc:  # polars raises ComputeError, OSError, ... for unreadable files
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"{p}: cannot read as {fmt} ({first})") from None
    df = df.rename({c: c.strip().lstrip("\ufeff").strip() for c in df.columns})  # BOMs, stray spaces
    return df.to_dicts(), set(df.columns)


def _read_jsonl(p: Path, warn) -> list[dict]:
    records = []
    try:
        with p.open("r", encoding="utf-8-sig", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    warn(f"{p}: line {n} is not valid JSON; skipped")
                    continue
                if not isinstance(obj, dict):
                    warn(f"{p}: line {n} is not a JSON object; skipped")
                    continue
                obj["_line"] = n
                records.append(obj)
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
    return records


def parse_time(value: object) -> datetime | None:
    """UTC time from ISO-8601 text, Twitter's classic format, epoch seconds/ms, or a datetime."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = value / 1000.0 if value > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(secs, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    s = value.strip()
    try:
        return parse_time(float(s)) if s.replace(".", "", 1).isdigit() else _iso(s)
    except ValueError:
        pass
    try:
        return datetime.strptime(s, "%a %b %d %H:%M:%S %z %Y").astimezone(timezone.utc)
    except ValueError:
        return None


def _iso(s: str) -> datetime:
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    return parse_time(datetime.fromisoformat(s))  # type: ignore[return-value]


def _row(r: dict, i: int, ts: datetime) -> Row:
    raw_time = r.get("created_at")
    text = r.get("text")
    text = "" if text is None else str(text)
    rid = r.get("id")
    if rid is None or (isinstance(rid, str) and not rid.strip()) or (isinstance(rid, float) and rid != rid):
        rid = stable_id(raw_time, text, i)
    elif isinstance(rid, float) and rid.is_integer():
        rid = str(int(rid))
    lang = r.get("lang")
    return Row(created_at=ts, id=str(rid), user=str(r.get("user") or ""), text=text,
               symbols=r.get("symbols"), lang=str(lang) if lang else None,
               url=_str_or_none(r.get("url")), crowd_sentiment=_str_or_none(r.get("crowd_sentiment")))


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class ReplaySource:
    """Plays rows in file order; waits follow the recorded gaps divided by `speed` (None = max)."""

    name = "replay"

    def __init__(self, path: str | Path, speed: float | None = 1.0, warn=None):
        self.path = Path(path).expanduser()
        self.rows = read_rows(self.path, warn)
        self._speed = speed
        self._speed_version = 0
        self._lock = threading.Lock()
        self.position = 0

    @property
    def speed(self) -> float | None:
        return self._speed

    def set_speed(self, x: float | None) -> None:
        """Change the pace while playing (None = as fast as possible)."""
        if x is not None and not x > 0:
            raise ValueError("speed must be positive or None")
        with self._lock:
            self._speed = x
            self._speed_version += 1

    def describe(self) -> str:
        return f"replay {self.path.name} ({len(self.rows):,} tweets)"

    def _status(self, status: StatusFn, state: str, detail: str = "") -> None:
        status(SourceStatus(state, detail, position=self.position, total=len(self.rows), speed=self._speed))

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        rows = self.rows
        self._status(status, "live", self.describe())
        # (anchor_wall, anchor_data): a wall-clock moment and the recorded time it stands for.
        anchor_wall, anchor_data = time.monotonic(), rows[0].created_at
        speed, seen_version, last_status = self._speed, self._speed_version, time.monotonic()
        for i, row in enumerate(rows):
            while True:  # wait for this row's moment, re-anchoring when the speed changes
                if stop.is_set():
                    return
                if self._speed_version != seen_version:
                    now = time.monotonic()
                    prev = rows[i - 1].created_at if i else row.created_at
                    played = prev if speed is None else anchor_data + timedelta(seconds=(now - anchor_wall) * speed)
                    anchor_wall, anchor_data = now, max(prev, min(played, row.created_at))
                    speed, seen_version = self._speed, self._speed_version
                if speed is None:
                    break
                due = anchor_wall + (row.created_at - anchor_data).total_seconds() / speed
                delay = due - time.monotonic()
                if delay <= 0:
                    break
                stop.wait(min(delay, TICK_S))
            emit(make_tweet(row.id, row.created_at, row.user, row.text, tickers=row.symbols,
                            lang=row.lang, source="replay", arrived=time.monotonic(),
                            url=row.url, crowd_sentiment=row.crowd_sentiment))
            self.position = i + 1
            now = time.monotonic()
            if now - last_status >= STATUS_EVERY_S:
                last_status = now
                self._status(status, "live", self.describe())
        self._status(status, "ended", f"replay finished: {len(rows):,} tweets")


def build(options, config) -> ReplaySource:
    """The registry's entry (sources/registry.py)."""
    return ReplaySource(options.replay_path, speed=options.speed, warn=options.warn)
