"""The files of a recording, and how an interrupted one is finished.

A recording is `OUT.parquet` plus, while it runs, a journal beside it
(`.OUT.parquet.journal`): new rows are appended to the journal as JSON lines every second
(cheap, whatever the size of the recording), and now and then merged into the parquet file
by writing a new file and renaming it over the old one. So a SIGKILL loses at most the last
second, and the parquet file is always complete.

A merge renames the journal to `.OUT.parquet.merged-N` (N = the parquet's row count once
the merge is in) before it renames the new parquet into place, and deletes it after. If a
run dies between the two renames, the row count tells whether the merge landed. The next
recorder to open the file finishes the merge; a replay of the file includes rows not yet
merged, without writing anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from .durable import fsync_dir, fsync_file

JOURNAL_SUFFIX = ".journal"
MERGED_INFIX = ".merged-"


def journal_path(path: Path) -> Path:
    return path.parent / f".{path.name}{JOURNAL_SUFFIX}"


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def merged_markers(path: Path) -> list[tuple[int, Path]]:
    """Journals renamed for a merge that may not have landed, as (rows after the merge, file)."""
    found = []
    for p in path.parent.glob(f".{path.name}{MERGED_INFIX}*"):
        tail = p.name.rsplit(MERGED_INFIX, 1)[-1]
        if tail.isdigit():
            found.append((int(tail), p))
    return sorted(found)


def encode_row(row: dict) -> str:
    """One journal line (datetimes as ISO text; everything else is JSON already)."""
    return json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()},
                      ensure_ascii=False) + "\n"


def read_journal(p: Path) -> list[dict]:
    """The rows of a journal file. A line cut short by a kill (the last one) is skipped: its
    row had not reached the disk when the run died."""
    rows = []
    try:
        with p.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    if isinstance(obj.get("created_at"), str):
                        try:
                            obj["created_at"] = datetime.fromisoformat(obj["created_at"])
                        except ValueError:
                            obj["created_at"] = None
                    rows.append(obj)
    except FileNotFoundError:
        return []
    return rows


def parquet_rows(path: Path) -> int:
    """Row count of a parquet file from its footer (0 when there is no file)."""
    import polars as pl

    if not path.exists():
        return 0
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def unmerged_rows(path: Path) -> list[dict]:
    """Rows of an interrupted (or running) recording that are not in its parquet file yet,
    in recording order. Reads only; nothing is written or deleted."""
    rows: list[dict] = []
    markers = merged_markers(path)
    if markers:
        height = parquet_rows(path)
        for after, p in markers:
            if after != height:
                rows += read_journal(p)
    return rows + read_journal(journal_path(path))


def append_journal(path: Path, rows: list[dict]) -> None:
    """Append rows to the journal and fsync it: after this returns, a kill cannot lose them."""
    with journal_path(path).open("a", encoding="utf-8") as f:
        f.write("".join(encode_row(r) for r in rows))
        f.flush()
        os.fsync(f.fileno())


def merge(path: Path, rows: list[dict], schema: dict, height: int) -> int:
    """Write parquet + rows to a new file and rename it over `path`; return the new row count.

    `rows` must be exactly what the journal (and any merge markers) hold. The old file is
    streamed, not loaded, so a long recording costs disk time, not memory.
    """
    import polars as pl

    new = pl.DataFrame(rows, schema=schema, strict=False)
    after = height + new.height
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        frame = pl.concat([pl.scan_parquet(path), new.lazy()], how="diagonal_relaxed") if path.exists() else new.lazy()
        frame.sink_parquet(tmp, compression="zstd", compression_level=1, statistics=False)
        fsync_file(Path(tmp))
        journal = journal_path(path)
        marker = path.parent / f".{path.name}{MERGED_INFIX}{after}"
        if journal.exists():
            os.replace(journal, marker)
            fsync_dir(path.parent)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for _, old in merged_markers(path):  # every marker's rows are in the file now
        old.unlink(missing_ok=True)
    return after


def finish_interrupted(path: Path, schema: dict) -> int:
    """Merge what a killed recording left in its journal; return how many rows were added."""
    rows = unmerged_rows(path)
    if rows:
        merge(path, rows, schema, parquet_rows(path))
    else:
        for _, p in merged_markers(path):
            p.unlink(missing_ok=True)
        journal_path(path).unlink(missing_ok=True)
    return len(rows)
