"""The one-machine scorer: chunk by chunk, file by file, one classifier for the whole run.

Memory holds one chunk (its input columns and outputs) besides the models; a part is written
and listed in the manifest before the next chunk is read. A stop (signal) drops the chunk in
flight, keeps every finished part and returns; `finterm.signals.StopController` decides when.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from finterm.signals import StopController

from .inputs import BrokenRecord, Columns, InputFile, iter_chunks
from .parts import OutputDir, entry_for, part_name, write_part, write_rejects
from .scoring import ChunkResult, ChunkScorer


@dataclass
class RunStats:
    """What this run did (the manifest holds what all runs did)."""

    started: float = field(default_factory=time.monotonic)
    read: int = 0
    scored: int = 0
    rejected: int = 0
    parts: int = 0
    #: Chunks finished by earlier runs and skipped by this one.
    skipped: int = 0
    #: One line per file that broke off (BrokenRecord), in order.
    broken: list[str] = field(default_factory=list)
    #: The last row scored: (file, row number) (for the summary after a stop).
    last: tuple[str, int] | None = None

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, entry: dict) -> None:
        self.read += entry["read"]
        self.scored += entry["scored"]
        self.rejected += entry["rejected"]
        self.parts += 1
        if entry.get("last_row"):
            self.last = (entry["file"], entry["last_row"])


class ProgressBar:
    """One line on a terminal: rows done of the estimated total, rows/s, ETA; nothing elsewhere."""

    def __init__(self, total: int, done: int = 0, out: TextIO | None = None, enabled: bool | None = None,
                 label: str = "scoring"):
        self.out = out or sys.stderr
        self.enabled = self.out.isatty() if enabled is None else enabled
        self.total = max(total, done)
        self.start_rows = self.rows = self.committed = done
        self.label = label
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self.note = ""

    def advance(self, n: int) -> None:
        """Rows of the chunk in flight (an estimate until the chunk is committed)."""
        self.rows = min(self.rows + n, max(self.total, self.committed))
        self.draw()

    def commit(self, read: int) -> None:
        """A chunk finished: its exact row count."""
        self.committed += read
        self.rows = self.committed
        self.total = max(self.total, self.committed)
        self.draw()

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.25:
            return
        self._last_draw = now
        elapsed = now - self.t0
        rate = (self.rows - self.start_rows) / elapsed if elapsed > 0 else 0.0
        share = self.rows / self.total if self.total else 0.0
        width = 24
        filled = int(width * min(1.0, share))
        eta = "-" if rate <= 0 else _clock((self.total - self.rows) / rate)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.rows:,}/{self.total:,} rows "
                f"{share:6.1%}  {rate:,.0f} rows/s  ETA {eta}{('  ' + self.note) if self.note else ''}")
        try:
            self.out.write(line + "\x1b[K")
            self.out.flush()
        except (OSError, ValueError):
            self.enabled = False

    def close(self) -> None:
        if self.enabled:
            try:
                self.out.write("\r\x1b[K")
                self.out.flush()
            except (OSError, ValueError):
                pass


def _clock(seconds: float) -> str:
    s = int(max(0, seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def commit_result(out_path, result: ChunkResult, models: dict[str, str], engine: str, columns: Columns) -> dict:
    """Write a scored chunk's part and rejects (atomically); the manifest entry to record."""
    chunk = result.chunk
    name = part_name(chunk.file, chunk.index)
    part = write_part(out_path, name, result.frame)
    rejects = write_rejects(out_path, name, result.rejects)
    from .inputs import ROW

    rows = chunk.frame[ROW]
    entry = entry_for(chunk.file, chunk.index, part=part, rejects=rejects, read=result.read, scored=result.scored,
                      rejected=result.rejected, tickers=result.tickers, models=models,
                      first_row=int(rows[0]) if len(rows) else 0, engine=engine)
    entry["last_row"] = int(rows[-1]) if len(rows) else 0
    return entry


def run_local(files: list[InputFile], out: OutputDir, scorer: ChunkScorer, *, chunk_rows: int, columns: Columns,
              models: dict[str, str], engine: str, stops: StopController, stats: RunStats,
              progress: ProgressBar | None = None, on_entry: Callable[[dict], None] | None = None) -> None:
    """Score every unfinished chunk of `files` into `out`. Raises Stopped on a stop signal;
    files that break off are noted in `stats.broken` and the run goes on with the next file."""
    for f in files:
        done = out.done(f)
        stats.skipped += len(done)
        try:
            for chunk in iter_chunks(f, chunk_rows, columns, done):
                stops.check()
                result = scorer.score(chunk)
                with stops.critical():
                    entry = commit_result(out.path, result, models, engine, columns)
                    out.record(entry)
                    stats.add(entry)
                    if progress is not None:
                        progress.commit(entry["read"])
                    if on_entry is not None:
                        on_entry(entry)
        except BrokenRecord as exc:
            stats.broken.append(exc.message)
