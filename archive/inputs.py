"""Archive inputs: files, folders and globs of parquet, CSV and JSONL, read in bounded chunks.

A file is read as consecutive chunks of `chunk_rows` rows (the last one shorter); chunk k of a
file is always the same rows, so the part written for it can be skipped by a rerun. Memory holds
one chunk at a time (and polars' read buffer), whatever the file's size.

Every row read comes out in a chunk, with its 1-based row number (and line for JSONL): rows the
reader cannot use (a line that is not JSON, a text that is not a string) carry a reject reason
instead of being dropped. A broken record that ends a file's readable part (a CSV quote never
closed) raises `BrokenRecord` after the good rows before it came out.

Column types are kept from parquet; CSV columns are text (ids keep their digits, as the replay
reads them); a JSONL key's column is typed when all its values are of one type (text, whole
numbers, numbers, booleans, lists of scalars as lists of text, like `symbols`), else its values
are kept as their JSON text.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from finterm.errors import FintermError, InputError
from finterm.sources.replay import FORMATS

#: Private columns a chunk carries beside the input's (dropped before output).
ROW = "_finterm_row"  # 1-based row number in its file
LINE = "_finterm_line"  # JSONL: the line number (blank lines are not rows)
REJECT = "_finterm_reject"  # why the row cannot be scored (None: it can, as far as reading goes)
PRIVATE = (ROW, LINE, REJECT)

#: Columns the replay schema reads besides text, time and id (tickers come from `symbols`).
SYMBOLS = "symbols"

#: Rows per chunk (and part): a few MB of memory, seconds of scoring (what a stop or a kill can
#: cost), and fine enough that Ray's workers share a file's chunks evenly.
DEFAULT_CHUNK_ROWS = 4096


class BrokenRecord(FintermError):
    """A record that ends a file's readable part: the rows before it were scored (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Columns:
    """Which input columns hold the text, the post time and the id (--text-col, ...)."""

    text: str = "text"
    time: str = "created_at"
    id: str = "id"

    def as_dict(self) -> dict:
        return {"text": self.text, "time": self.time, "id": self.id}


@dataclass(frozen=True)
class InputFile:
    path: Path
    fmt: str
    size: int
    mtime_ns: int

    @classmethod
    def at(cls, path: Path) -> InputFile:
        p = path.expanduser().resolve()
        st = p.stat()
        return cls(p, FORMATS[p.suffix.lower()], st.st_size, st.st_mtime_ns)

    @property
    def key(self) -> str:
        """The stem of its parts' names: readable, and unique per path."""
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem)[:48].lstrip("._") or "input"
        return f"{stem}-{hashlib.sha1(str(self.path).encode('utf-8')).hexdigest()[:8]}"

    def stamp(self) -> dict:
        return {"path": str(self.path), "size": self.size, "mtime_ns": self.mtime_ns}


@dataclass
class Chunk:
    """Rows [index * chunk_rows, ...) of a file: the input's columns plus the PRIVATE ones."""

    file: InputFile
    index: int
    frame: pl.DataFrame

    @property
    def read(self) -> int:
        return self.frame.height


# --- finding the files -------------------------------------------------------------------------

def _known(p: Path) -> bool:
    return p.suffix.lower() in FORMATS


def _hidden(p: Path, root: Path | None = None) -> bool:
    """`.x` and `_x` (a manifest, rejects, temporary files), or inside such a folder under `root`."""
    names = p.relative_to(root).parts if root is not None else (p.name,)
    return any(part.startswith((".", "_")) for part in names)


def expand_inputs(args: list[str], exclude: Path | None = None) -> list[InputFile]:
    """Files, folders (searched recursively) and globs -> input files in a stable order, each once.

    Files under `exclude` (the output folder) and hidden ones (`.x`, `_x`: a score output's
    manifest and rejects among them) found in folders or by globs are skipped; a named file of an unknown type, or an argument that finds nothing, is an InputError.
    """
    exclude = exclude.expanduser().resolve() if exclude else None
    found: dict[Path, InputFile] = {}

    def inside_exclude(p: Path) -> bool:
        return exclude is not None and (p == exclude or exclude in p.parents)

    for arg in args:
        if any(c in arg for c in "*?["):
            hits = [Path(m) for m in sorted(glob.glob(os.path.expanduser(arg), recursive=True))]
            files = [h for h in hits if h.is_file() and _known(h) and not _hidden(h) and not inside_exclude(h.resolve())]
            if not files:
                raise InputError(f"{arg}: no parquet, CSV or JSONL file matches")
        else:
            p = Path(arg).expanduser()
            if p.is_dir():
                files = sorted(h for h in p.rglob("*") if h.is_file() and _known(h) and not _hidden(h, p)
                               and not inside_exclude(h.resolve()))
                if not files:
                    raise InputError(f"{p}: no parquet, CSV or JSONL files in this folder")
            elif p.is_file():
                if not _known(p):
                    raise InputError(f"{p}: unknown file type '{p.suffix or '(none)'}' (finterm score reads "
                                     ".parquet, .csv or .jsonl)")
                files = [p]
            else:
                raise InputError(f"{p}: no such file or folder")
        for f in files:
            info = InputFile.at(f)
            found.setdefault(info.path, info)
    return list(found.values())


# --- checking a file before any model loads ----------------------------------------------------

def _clean_name(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip()  # BOMs, stray spaces (as the replay does)


def _clean_names(names: list[str]) -> list[str]:
    return [_clean_name(n) for n in names]


def file_columns(f: InputFile) -> dict[str, pl.DataType] | None:
    """The columns of a parquet or CSV file (None for JSONL, whose keys vary by line)."""
    try:
        if f.fmt == "parquet":
            return dict(pl.scan_parquet(f.path).collect_schema())
        if f.fmt == "csv":
            with f.path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
                header = next(csv.reader(fh), None)
            if header is None:
                raise InputError(f"{f.path}: the file is empty")
            return {n: pl.String for n in _clean_names(header)}
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - polars: ComputeError, OSError, ... for a file that is not parquet
        raise InputError(f"{f.path}: cannot read as {f.fmt} ({_first_line(exc)})") from None
    return None


def check_file(f: InputFile, columns: Columns) -> None:
    """InputError (one line) when the file cannot be scored as asked: the text or time column
    missing, or a parquet text column that is not text."""
    have = file_columns(f)
    if have is None:
        return
    names = ", ".join(have) or "none"
    for role, flag in ((columns.text, "--text-col"), (columns.time, "--time-col")):
        if role not in have:
            raise InputError(f"{f.path}: no column '{role}' ({flag} names it; the file has: {names})")
    dtype = have[columns.text]
    if not (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
        texts = ", ".join(n for n, t in have.items() if t == pl.String) or "none"
        raise InputError(f"{f.path}: column '{columns.text}' holds {dtype}, not text (text columns: {texts})")


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return s.splitlines()[0][:160] if s else exc.__class__.__name__


def estimate_rows(f: InputFile) -> int:
    """Rows in the file: exact for parquet (its footer), lines for CSV and JSONL (for the ETA)."""
    if f.fmt == "parquet":
        try:
            return int(pl.scan_parquet(f.path).select(pl.len()).collect().item())
        except Exception:  # noqa: BLE001 - an unreadable footer: no estimate
            return 0
    n = 0
    with f.path.open("rb") as fh:
        while block := fh.read(1 << 20):
            n += block.count(b"\n")
    if f.size and not _ends_with_newline(f.path):
        n += 1
    return max(0, n - 1) if f.fmt == "csv" else n


def _ends_with_newline(p: Path) -> bool:
    with p.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


# --- reading chunks ----------------------------------------------------------------------------

def iter_chunks(f: InputFile, chunk_rows: int, columns: Columns, skip: set[int] | frozenset = frozenset()) -> Iterator[Chunk]:
    """The file's chunks in order, except those in `skip` (finished earlier).

    Raises InputError when the file cannot be opened as its type, BrokenRecord after the last
    good rows of a file that breaks off.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    reader = {"parquet": _parquet_frames, "csv": _csv_frames, "jsonl": _jsonl_frames}[f.fmt]
    first = 0
    if f.fmt != "csv":  # parquet and JSONL start after the finished chunks; CSV is parsed from the top,
        while first in skip:  # so a broken record after them is found again (and a CSV has no row index)
            first += 1
    chunker = _Chunker(f, chunk_rows, skip, first)
    try:
        for frame in reader(f, chunk_rows, columns, first * chunk_rows, chunker):
            yield from chunker.add(frame)
    except BrokenRecord:
        yield from chunker.flush()
        raise
    yield from chunker.flush()


class _Chunker:
    """Re-cuts the reader's frames into exact chunks and numbers their rows."""

    def __init__(self, f: InputFile, n: int, skip, first: int):
        self.f, self.n, self.skip = f, n, skip
        self.index = first
        self.row = first * n  # rows before the pending ones
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0

    @property
    def rows_done(self) -> int:
        """Rows handed over so far (whole chunks and pending rows)."""
        return self.row + self.pending_rows

    def add(self, frame: pl.DataFrame) -> Iterator[Chunk]:
        if frame.height:
            self.pending.append(frame)
            self.pending_rows += frame.height
        while self.pending_rows >= self.n:
            yield from self._emit(self.n)

    def flush(self) -> Iterator[Chunk]:
        if self.pending_rows:
            yield from self._emit(self.pending_rows)

    def _emit(self, n: int) -> Iterator[Chunk]:
        whole = pl.concat(self.pending, how="diagonal_relaxed") if len(self.pending) > 1 else self.pending[0]
        frame, rest = whole.head(n), whole.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.height else []), rest.height
        if ROW not in frame.columns:
            frame = frame.with_columns(pl.int_range(self.row + 1, self.row + 1 + n, dtype=pl.Int64).alias(ROW))
        for col, dtype in ((LINE, pl.Int64), (REJECT, pl.String)):
            if col not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(col))
        index = self.index
        self.index += 1
        self.row += n
        if index not in self.skip:
            yield Chunk(self.f, index, frame)


def _parquet_frames(f: InputFile, n: int, columns: Columns, start: int, chunker) -> Iterator[pl.DataFrame]:
    lf = pl.scan_parquet(f.path)
    if start:
        lf = lf.slice(start)
    try:
        yield from lf.collect_batches(chunk_size=n)
    except Exception as exc:  # noqa: BLE001 - polars raises many kinds for a damaged file
        raise BrokenRecord(f"{f.path}: cannot read past row {chunker.rows_done:,} ({_first_line(exc)}); "
                           "the rows before it were scored") from None


def _csv_frames(f: InputFile, n: int, columns: Columns, start: int, chunker) -> Iterator[pl.DataFrame]:
    """polars' streaming CSV reader (all columns text); where it fails, Python's csv module goes
    on from the last good row, so the rows before a broken record are kept and its line named."""
    lf = pl.scan_csv(f.path, infer_schema=False, encoding="utf8-lossy", with_column_names=_clean_names)
    try:
        yield from lf.collect_batches(chunk_size=n)
        return
    except Exception:  # noqa: BLE001, S110 - a malformed record somewhere: read on record by record
        pass
    yield from _csv_salvage(f, n, chunker.rows_done)


def _csv_salvage(f: InputFile, n: int, skip_rows: int) -> Iterator[pl.DataFrame]:
    problem, problem_line, seen, batch = None, 0, 0, []
    with f.path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            names = _clean_names(next(reader))
        except (StopIteration, csv.Error):
            raise BrokenRecord(f"{f.path}: line 1: no readable header") from None
        width, line = len(names), reader.line_num
        while problem is None:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problem, problem_line = str(exc), line + 1
                break
            if len(rec) > width:
                problem, problem_line = f"{len(rec)} fields where the header has {width}", line + 1
                break
            line = reader.line_num
            seen += 1
            if seen <= skip_rows:
                continue
            batch.append([v if v != "" else None for v in rec] + [None] * (width - len(rec)))
            if len(batch) >= n:
                yield _rows_frame(names, batch)
                batch = []
    if batch:
        yield _rows_frame(names, batch)
    if problem is not None:
        raise BrokenRecord(f"{f.path}: line {problem_line}: {problem}; the {seen:,} rows before it were scored")


def _rows_frame(names: list[str], rows: list[list]) -> pl.DataFrame:
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    return pl.DataFrame({name: pl.Series(name, list(c), dtype=pl.String) for name, c in zip(names, cols)})


def _decode(raw: bytes, at_start: bool) -> str:
    line = raw.decode("utf-8", errors="replace")
    return line.lstrip("\ufeff") if at_start else line


def _jsonl_scan(f: InputFile, chunk_rows: int = 0) -> tuple[dict[str, str], list[tuple[int, int, int]]]:
    """Each key of the file, in order of first appearance, with the type its column gets ("bool",
    "int", "float", "str" when every value it has is of that type, ints and floats: "float";
    "list" when every value is a list of scalars; else "json": values kept as their JSON text);
    and with `chunk_rows`, where each chunk starts: (row, byte offset, line number).

    Lines are split at b"\n" and decoded as UTF-8 with bad bytes replaced, here and wherever a
    JSONL file is read, so row k is the same row for every reader."""
    seen: dict[str, set[str]] = {}
    starts: list[tuple[int, int, int]] = []
    rows = offset = 0
    with f.path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            here, offset = offset, offset + len(raw)
            line = _decode(raw, here == 0)
            if not line.strip():
                continue
            if chunk_rows and rows % chunk_rows == 0:
                starts.append((rows, here, lineno))
            rows += 1
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            for k, v in obj.items():
                seen.setdefault(k, set()).add(_value_kind(v))
    return {k: _column_kind(kinds - {"null"}) for k, kinds in seen.items()}, starts


_INT64 = (-(2**63), 2**63 - 1)


def _value_kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if _INT64[0] <= v <= _INT64[1] else "json"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list) and all(not isinstance(x, (list, dict)) for x in v):
        return "list"
    return "json"


def _column_kind(kinds: set[str]) -> str:
    if not kinds:
        return "str"
    if len(kinds) == 1:
        return next(iter(kinds))
    return "float" if kinds == {"int", "float"} else "json"


_DTYPES = {"bool": pl.Boolean, "int": pl.Int64, "float": pl.Float64, "str": pl.String, "list": pl.List(pl.String)}


def _as_text(v) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _kind_name(v) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _jsonl_row(line: str, columns: Columns) -> tuple[dict | None, str | None]:
    """A line's object and the reason it cannot be scored (None: it can, as far as reading goes)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    text = obj.get(columns.text)
    if text is not None and not isinstance(text, str):
        return obj, f"{columns.text} is {_kind_name(text)}, not a string"
    return obj, None


def _jsonl_frames(f: InputFile, n: int, columns: Columns, start: int, chunker) -> Iterator[pl.DataFrame]:
    kinds, _ = _jsonl_scan(f)
    rows: list[tuple[int, int, dict | None, str | None]] = []
    rowno = 0
    with f.path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = _decode(raw, lineno == 1)
            if not line.strip():
                continue
            rowno += 1
            if rowno <= start:
                continue
            obj, reason = _jsonl_row(line, columns)
            rows.append((rowno, lineno, obj, reason))
            if len(rows) >= n:
                yield _jsonl_frame(kinds, rows)
                rows = []
    if rows:
        yield _jsonl_frame(kinds, rows)


def _jsonl_frame(kinds: dict[str, str], rows) -> pl.DataFrame:
    data = {}
    for name, kind in kinds.items():
        values = [None if obj is None else obj.get(name) for _, _, obj, _ in rows]
        if kind == "list":
            values = [None if v is None else [_as_text(x) for x in v] for v in values]
        elif kind == "float":
            values = [None if v is None else float(v) for v in values]
        elif kind == "json":
            values = [_as_text(v) for v in values]
        data[name] = pl.Series(name, values, dtype=_DTYPES.get(kind, pl.String))
    data[ROW] = pl.Series(ROW, [r[0] for r in rows], dtype=pl.Int64)
    data[LINE] = pl.Series(LINE, [r[1] for r in rows], dtype=pl.Int64)
    data[REJECT] = pl.Series(REJECT, [r[3] for r in rows], dtype=pl.String)
    return pl.DataFrame(data)


# --- random access: one chunk at a time (Ray's read tasks) -------------------------------------

@dataclass(frozen=True)
class ChunkRef:
    """Where chunk `index` of a file lies: its first row (0-based), row count, and for CSV and
    JSONL its bytes [start, end) and first line."""

    index: int
    first_row: int
    rows: int
    start: int = 0
    end: int = 0
    first_line: int = 1


@dataclass
class FilePlan:
    """A file cut into chunks, with what every chunk's reader needs (CSV header, JSONL kinds)."""

    file: InputFile
    chunk_rows: int
    chunks: list[ChunkRef]
    header: bytes = b""
    kinds: dict[str, str] | None = None


def plan_chunks(f: InputFile, chunk_rows: int) -> FilePlan:
    """Cut a file into the chunks `iter_chunks` reads, so each can be read on its own: one pass
    over a CSV or JSONL file (record and line boundaries), the footer of a parquet file."""
    if f.fmt == "parquet":
        total = int(pl.scan_parquet(f.path).select(pl.len()).collect().item())
        chunks = [ChunkRef(k, first, min(chunk_rows, total - first)) for k, first in enumerate(range(0, total, chunk_rows))]
        return FilePlan(f, chunk_rows, chunks)
    if f.fmt == "jsonl":
        kinds, starts = _jsonl_scan(f, chunk_rows)
        return FilePlan(f, chunk_rows, _refs(starts, f.size, chunk_rows, total=None), kinds=kinds)
    header, starts, total = _csv_scan(f, chunk_rows)
    return FilePlan(f, chunk_rows, _refs(starts, f.size, chunk_rows, total), header=header)


def _refs(starts: list[tuple[int, int, int]], size: int, n: int, total: int | None) -> list[ChunkRef]:
    refs = []
    for k, (row, offset, line) in enumerate(starts):
        end = starts[k + 1][1] if k + 1 < len(starts) else size
        rows = n if k + 1 < len(starts) else (n if total is None else total - row)
        refs.append(ChunkRef(k, row, rows, offset, end, line))
    return refs


def _csv_scan(f: InputFile, chunk_rows: int) -> tuple[bytes, list[tuple[int, int, int]], int]:
    """The header record's bytes, where each chunk's first record starts, and the record count.

    A record ends at a line end outside quotes: the count of `"` so far is even (a doubled
    quote inside a field counts twice), as polars and the csv module read it; a blank line is
    a record (polars reads it as a row of nulls)."""
    header, starts, records = b"", [], 0
    offset = start = 0
    open_quotes = False
    first_line = 1
    with f.path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not open_quotes:
                start, first_line = offset, lineno
            offset += len(raw)
            if raw.count(b'"') % 2:
                open_quotes = not open_quotes
            if open_quotes:
                continue
            if not header:
                header = raw if raw.endswith(b"\n") else raw + b"\n"
                continue
            if records % chunk_rows == 0:
                starts.append((records, start, first_line))
            records += 1
    if open_quotes:  # a quote never closed: the rest of the file is one (broken) record
        if records % chunk_rows == 0:
            starts.append((records, start, first_line))
        records += 1
    return header, starts, records


def read_chunk(plan: FilePlan, ref: ChunkRef, columns: Columns) -> tuple[Chunk, str | None]:
    """Chunk `ref.index` of the file on its own, and the one-line problem when the file breaks
    off inside it (its good rows are in the chunk)."""
    f = plan.file
    problem = None
    if f.fmt == "parquet":
        try:
            frame = pl.scan_parquet(f.path).slice(ref.first_row, ref.rows).collect()
        except Exception as exc:  # noqa: BLE001 - polars raises many kinds for a damaged file
            frame = pl.DataFrame()
            problem = f"{f.path}: cannot read rows {ref.first_row + 1:,}-{ref.first_row + ref.rows:,} ({_first_line(exc)})"
    elif f.fmt == "jsonl":
        frame = _jsonl_range(f, ref, plan.kinds or {}, columns)
    else:
        frame, problem = _csv_range(f, ref, plan.header)
    chunker = _Chunker(f, max(1, frame.height), frozenset(), 0)
    chunker.row = ref.first_row
    chunker.index = ref.index
    chunks = list(chunker.add(frame)) if frame.height else []
    if not chunks:
        empty = pl.DataFrame({ROW: pl.Series([], dtype=pl.Int64), LINE: pl.Series([], dtype=pl.Int64),
                              REJECT: pl.Series([], dtype=pl.String)})
        chunks = [Chunk(f, ref.index, empty)]
    return chunks[0], problem


def _read_bytes(f: InputFile, ref: ChunkRef) -> bytes:
    with f.path.open("rb") as fh:
        fh.seek(ref.start)
        return fh.read(ref.end - ref.start)


def _jsonl_range(f: InputFile, ref: ChunkRef, kinds: dict[str, str], columns: Columns) -> pl.DataFrame:
    rows = []
    rowno, lineno = ref.first_row, ref.first_line - 1
    for raw in io.BytesIO(_read_bytes(f, ref)):
        lineno += 1
        line = _decode(raw, ref.start == 0 and lineno == 1)
        if not line.strip():
            continue
        rowno += 1
        obj, reason = _jsonl_row(line, columns)
        rows.append((rowno, lineno, obj, reason))
    return _jsonl_frame(kinds, rows)


def _csv_range(f: InputFile, ref: ChunkRef, header: bytes) -> tuple[pl.DataFrame, str | None]:
    data = header + _read_bytes(f, ref)
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False, encoding="utf8-lossy")
        return frame.rename(dict(zip(frame.columns, _clean_names(frame.columns)))), None
    except Exception:  # noqa: BLE001, S110 - a broken record in this chunk: its good rows, and where it broke
        pass
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    names = _clean_names(next(reader))
    width, batch, line, problem = len(names), [], reader.line_num, None
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problem = f"line {ref.first_line + line - 1}: {exc}"
            break
        if len(rec) > width:
            problem = f"line {ref.first_line + line - 1}: {len(rec)} fields where the header has {width}"
            break
        line = reader.line_num
        batch.append([v if v != "" else None for v in rec] + [None] * (width - len(rec)))
    frame = _rows_frame(names, batch)
    if problem is not None:
        problem = f"{f.path}: {problem}; the {ref.first_row + len(batch):,} rows before it were scored"
    return frame, problem
