"""Replay a file of tweets (parquet, CSV, JSONL) at its recorded pace times a speed factor.

The file is streamed, never loaded whole: parquet a slice of row groups at a time, CSV and
JSONL record by record, so memory stays flat whatever the file's size (the pipeline's
bounded queue holds the only read-ahead). What can be checked cheaply is checked when the
source is built, before any model loads: the file type, that it opens, its columns, that
it has a row and a usable created_at. A record that breaks further on (an unclosed quote, a
line cut short, a wrong-typed field) ends the replay there with `BrokenRecord`, naming the
file and line: the rows before it are played and scored first.

Rows are counted from the start of the file, garbled JSONL lines (skipped with a warning)
not included; `skip=N` (`--skip N`) starts after the first N, so a stopped run resumes
with the `--skip` its summary gives, no row lost or repeated.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

from finterm.errors import FintermError, InputError
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
#: Parquet rows read at a time (the reader's whole read-ahead).
PARQUET_CHUNK = 4096
#: JSONL records whose keys make up "the file's columns" for the up-front check.
COLUMN_SAMPLE = 1000
#: CSV and JSONL files up to this size are counted when opened, for the status bar's total;
#: bigger ones play with the total unknown (parquet's comes from its footer).
COUNT_MAX_BYTES = 32 << 20
#: Rows with an unusable created_at that are named one by one before a count says the rest.
BAD_TIME_WARNINGS = 5

Warn = Callable[[str], None]


class BrokenRecord(FintermError):
    """A record the file cannot give (unclosed quote, line cut short, wrong-typed field): the
    replay ends there, after the rows before it; exit 1, as for any failure mid-run."""

    exit_code = 1


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


def _quiet(message: str) -> None:
    pass


# -- reading records -----------------------------------------------------------------------
class ReplayFile:
    """A replay file, opened and checked; `rows(skip)` streams its rows in file order.

    Raises InputError (one line, exit 2) when the file cannot be used at all. A finterm
    recording's rows still in its journal (a running or killed recording) come after the
    file's own rows.
    """

    def __init__(self, path: str | Path, warn: Warn | None = None):
        p = Path(path).expanduser()
        self.path = p
        self.warn = warn or _quiet
        self.format = fmt = FORMATS.get(p.suffix.lower())
        if fmt is None:
            raise InputError(f"{p}: unknown file type '{p.suffix or '(none)'}' (replay reads .parquet, .csv or .jsonl)")
        self.unmerged = self._unmerged() if fmt == "parquet" else []
        if not p.exists() and not self.unmerged:
            raise InputError(f"{p}: no such file")
        if p.exists() and not p.is_file():
            raise InputError(f"{p}: not a file")
        #: Rows in the file (None: not counted, a big CSV or JSONL).
        self.total: int | None = None
        columns = self._open()
        if self.unmerged:
            self.warn(f"{p}: includes {len(self.unmerged):,} recorded rows not merged into the file yet (its recording "
                      "is running or was killed; recording to the file again merges them)")
            columns |= set().union(*(r.keys() for r in self.unmerged))
            if self.total is not None:
                self.total += len(self.unmerged)
        first = self._first_record()
        if first is None:
            raise InputError(f"{p}: no rows to replay")
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            have = ", ".join(sorted(map(str, columns))) or "none"
            raise InputError(f"{p}: missing column {', '.join(missing)} (replay needs created_at and text; the file has: {have})")
        self.first_time = self._first_time(first)

    # -- opening -----------------------------------------------------------------------
    def _unmerged(self) -> list[dict]:
        try:
            return unmerged_rows(self.path)
        except Exception as exc:  # an unreadable journal must not stop the replay of the file itself
            self.warn(f"{self.path}: cannot read the rows its recording has not merged yet ({exc.__class__.__name__}); "
                      "replaying the file alone")
            return []

    def _open(self) -> set[str]:
        """The file's columns; the total where it is cheap. InputError when it cannot be read."""
        p = self.path
        if not p.exists():
            self.total = 0
            return set()
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise InputError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
        if self.format == "parquet":
            return self._open_parquet()
        if self.format == "csv":
            if size == 0:
                raise InputError(f"{p}: the file is empty")
            columns = set(self._csv_header())
        else:
            columns = set()
            sample = self._jsonl_records(_quiet, check=False)
            try:
                for _, (_, rec) in zip(range(COLUMN_SAMPLE), sample):
                    columns |= rec.keys()
            finally:
                sample.close()
        if size <= COUNT_MAX_BYTES:
            self.total = self._count()
        return columns

    def _open_parquet(self) -> set[str]:
        import polars as pl

        try:
            schema = pl.read_parquet_schema(self.path)
            self.total = int(pl.scan_parquet(self.path).select(pl.len()).collect().item())
        except Exception as exc:  # polars raises ComputeError, OSError, ... for unreadable files
            raise InputError(f"{self.path}: cannot read as parquet ({_first_line(exc)})") from None
        self._parquet_columns = {c: _clean_name(c) for c in schema}
        return set(self._parquet_columns.values())

    def _first_record(self) -> tuple[str, dict] | None:
        records = self._records(_quiet, check=False)
        try:
            return next(records, None)
        finally:
            records.close()

    def _count(self) -> int:
        """Rows up to the end or the first broken record (what a replay would play)."""
        n = 0
        try:
            for _ in self._records(_quiet):
                n += 1
        except BrokenRecord:
            pass
        return n

    # -- records -----------------------------------------------------------------------
    def _records(self, warn: Warn, check: bool = True) -> Iterator[tuple[str, dict]]:
        """(where, record) in file order, then the unmerged journal rows; `where` names the
        row for messages ("line 7", "row 12"). Garbled JSONL lines are skipped with `warn`."""
        if self.path.exists():
            if self.format == "csv":
                yield from self._csv_records()
            elif self.format == "jsonl":
                yield from self._jsonl_records(warn, check)
            else:
                yield from self._parquet_records()
        base = self.total - len(self.unmerged) if self.total is not None else None
        for k, r in enumerate(self.unmerged):
            yield (f"row {base + k + 1}" if base is not None else "a journal row"), r

    def _csv_reader(self, f):
        return csv.reader(f, strict=True)

    def _csv_header(self) -> list[str]:
        try:
            with self.path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
                header = next(self._csv_reader(f), None)
        except csv.Error as exc:
            raise InputError(f"{self.path}: line 1: cannot read the header as csv ({exc})") from None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read ({exc.strerror or exc.__class__.__name__})") from None
        if not header:
            raise InputError(f"{self.path}: the file is empty")
        return [_clean_name(c) for c in header]

    def _csv_records(self) -> Iterator[tuple[str, dict]]:
        """Every field as text (ids keep their digits as written); an empty field is None."""
        p = self.path
        with p.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = self._csv_reader(f)
            header = [_clean_name(c) for c in next(reader, [])]
            width = len(header)
            row_no, line = 0, reader.line_num + 1
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise BrokenRecord(f"{p}: line {line}: {_csv_problem(str(exc))}") from None
                if not fields:  # a blank line
                    line = reader.line_num + 1
                    continue
                row_no += 1
                if len(fields) > width:
                    raise BrokenRecord(f"{p}: line {line}: {len(fields)} fields where the header has {width} "
                                       "(a comma in an unquoted field?)")
                rec = {h: (v if v != "" else None) for h, v in zip(header, fields)}
                yield f"row {row_no}", rec
                line = reader.line_num + 1

    def _jsonl_records(self, warn: Warn, check: bool = True) -> Iterator[tuple[str, dict]]:
        """(where, record); garbled lines warned about and skipped, as before;
        a last line cut short (no newline, not JSON) and wrong-typed fields are BrokenRecord."""
        p = self.path
        try:
            with p.open("r", encoding="utf-8-sig", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        if check and not line.endswith("\n"):
                            raise BrokenRecord(f"{p}: line {n}: the file ends inside a record (cut short?)") from None
                        warn(f"{p}: line {n} is not valid JSON; skipped")
                        continue
                    if not isinstance(obj, dict):
                        warn(f"{p}: line {n} is not a JSON object; skipped")
                        continue
                    if check:
                        _check_types(p, n, obj)
                    yield f"line {n}", obj
        except OSError as exc:
            raise InputError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__})") from None

    def _parquet_records(self) -> Iterator[tuple[str, dict]]:
        import polars as pl

        names = self._parquet_columns
        wanted = [raw for raw, clean in names.items() if clean in REQUIRED + OPTIONAL]
        height = self.total - len(self.unmerged) if self.total is not None else 0
        for start in range(0, height, PARQUET_CHUNK):
            try:
                chunk = pl.scan_parquet(self.path).select(wanted).slice(start, PARQUET_CHUNK).collect()
            except Exception as exc:
                raise BrokenRecord(f"{self.path}: rows {start + 1}-{min(height, start + PARQUET_CHUNK)}: "
                                   f"cannot read ({_first_line(exc)})") from None
            chunk = chunk.rename({raw: names[raw] for raw in wanted})
            for k, rec in enumerate(chunk.iter_rows(named=True)):
                yield f"row {start + k + 1}", rec

    # -- rows --------------------------------------------------------------------------
    def _first_time(self, first: tuple[str, dict]) -> datetime:
        """The first usable created_at (rows before it are played at it); InputError if none."""
        records = self._records(_quiet, check=False)
        try:
            for _, rec in records:
                ts = parse_time(rec.get("created_at"))
                if ts is not None:
                    return ts
        finally:
            records.close()
        where, rec = first
        raise InputError(f"{self.path}: {where}: {_time_problem(rec)} (nor has any other row a usable one)")

    def rows(self, skip: int = 0) -> Iterator[Row]:
        """Rows in file order from row `skip + 1`. One without a usable created_at is still
        played (a record is never dropped), at the time of the row before it, with a warning."""
        p, warn = self.path, self.warn
        last, bad, i = self.first_time, 0, -1

        def warn_played(message: str) -> None:  # the rows skipped were warned about when first played
            if i + 1 >= skip:
                warn(message)

        for i, (where, rec) in enumerate(self._records(warn_played)):
            ts = parse_time(rec.get("created_at"))
            if i < skip:
                if ts is not None:
                    last = ts
                continue
            if ts is None:
                bad += 1
                if bad <= BAD_TIME_WARNINGS:
                    warn(f"{p}: {where}: {_time_problem(rec)}; played at the time of the row before it")
                ts = last
            last = ts
            yield _row(rec, i, ts)
        if bad > BAD_TIME_WARNINGS:
            warn(f"{p}: {bad - BAD_TIME_WARNINGS:,} more rows without a usable created_at, played the same way")


def read_rows(path: str | Path, warn: Warn | None = None, skip: int = 0) -> list[Row]:
    """Every row of a replay file as a list (label review, tests); InputError when it cannot be
    used, BrokenRecord when a record breaks (the stream stops there)."""
    return list(ReplayFile(path, warn).rows(skip))


# -- helpers -------------------------------------------------------------------------------
def _clean_name(c: object) -> str:
    return str(c).strip().lstrip("\ufeff").strip()  # BOMs, stray spaces


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return s.splitlines()[0][:160] if s else exc.__class__.__name__


def _csv_problem(message: str) -> str:
    if "unexpected end of data" in message:
        return "unclosed quote: the file ends inside a quoted field"
    if "field larger than field limit" in message:
        return "a field longer than the csv limit (an unclosed quote?)"
    return f"cannot read as csv ({message})"


#: JSON types a field may have (symbols may be a list; anything may be null).
_SCALAR = (str, int, float, bool)


def _check_types(p: Path, n: int, obj: dict) -> None:
    for key in ("text", "id", "user", "lang"):
        v = obj.get(key)
        if v is not None and not isinstance(v, _SCALAR):
            kind = "an object" if isinstance(v, dict) else "a list"
            raise BrokenRecord(f"{p}: line {n}: {key} is {kind}, not text")
    sym = obj.get("symbols")
    if isinstance(sym, dict):
        raise BrokenRecord(f"{p}: line {n}: symbols is an object, not text or a list")


def _time_problem(r: dict) -> str:
    raw = r.get("created_at")
    return "no created_at" if raw is None else f"created_at {str(raw)[:40]!r} is not a timestamp"


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


# -- the source ----------------------------------------------------------------------------
class ReplaySource:
    """Plays rows in file order; waits follow the recorded gaps divided by `speed` (None = max)."""

    name = "replay"

    def __init__(self, path: str | Path, speed: float | None = 1.0, warn: Warn | None = None, skip: int = 0):
        if skip < 0:
            raise InputError("--skip must be 0 or more")
        self.file = ReplayFile(path, warn)
        self.path = self.file.path
        self.skip = int(skip)
        total = self.file.total
        if self.skip and total is not None and self.skip >= total:
            raise InputError(f"{self.path}: --skip {self.skip:,} skips every row (the file has {total:,})")
        self._speed = speed
        self._speed_version = 0
        self._lock = threading.Lock()
        #: Rows of the file played so far, the skipped ones included.
        self.position = self.skip

    @property
    def total(self) -> int | None:
        """Rows in the file (None when not known: a big CSV or JSONL)."""
        return self.file.total

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

    def resume_skip(self, scored: int) -> int:
        """The `--skip` that resumes after `scored` rows of this run were scored (in order)."""
        return self.skip + scored

    def describe(self) -> str:
        total = self.file.total
        what = f"replay {self.path.name}" + (f" ({total:,} tweets)" if total is not None else "")
        return what + (f" from row {self.skip + 1:,}" if self.skip else "")

    def _status(self, status: StatusFn, state: str, detail: str = "") -> None:
        status(SourceStatus(state, detail, position=self.position, total=self.file.total, speed=self._speed))

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        self._status(status, "live", self.describe())
        rows = self.file.rows(self.skip)
        try:
            self._play(rows, emit, status, stop)
        finally:
            rows.close()

    def _play(self, rows: Iterator[Row], emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        first = True
        prev: datetime | None = None
        anchor_wall, anchor_data = time.monotonic(), None
        speed, seen_version, last_status = self._speed, self._speed_version, time.monotonic()
        played = 0
        for row in rows:
            if first:  # (anchor_wall, anchor_data): a wall-clock moment and the recorded time it stands for
                anchor_wall, anchor_data, prev, first = time.monotonic(), row.created_at, row.created_at, False
            while True:  # wait for this row's moment, re-anchoring when the speed changes
                if stop.is_set():
                    return
                if self._speed_version != seen_version:
                    now = time.monotonic()
                    at = prev if speed is None else anchor_data + timedelta(seconds=(now - anchor_wall) * speed)
                    anchor_wall, anchor_data = now, max(prev, min(at, row.created_at))
                    speed, seen_version = self._speed, self._speed_version
                if speed is None:
                    break
                due = anchor_wall + (row.created_at - anchor_data).total_seconds() / speed
                delay = due - time.monotonic()
                if delay <= 0:
                    break
                stop.wait(min(delay, TICK_S))
            if stop.is_set():
                return
            emit(make_tweet(row.id, row.created_at, row.user, row.text, tickers=row.symbols,
                            lang=row.lang, source="replay", arrived=time.monotonic(),
                            url=row.url, crowd_sentiment=row.crowd_sentiment))
            prev = row.created_at
            played += 1
            self.position += 1
            now = time.monotonic()
            if now - last_status >= STATUS_EVERY_S:
                last_status = now
                self._status(status, "live", self.describe())
        if self.file.total is None:
            self.file.total = self.position
        self._status(status, "ended", f"replay finished: {played:,} tweets")


def build(options, config) -> ReplaySource:
    """The registry's entry (sources/registry.py)."""
    return ReplaySource(options.replay_path, speed=options.speed, warn=options.warn,
                        skip=getattr(options, "skip", 0) or 0)
