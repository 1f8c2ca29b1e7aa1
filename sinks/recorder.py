"""`--record OUT.parquet`: every scored tweet appended to a parquet file that survives SIGKILL.

Parquet cannot be appended to in place (its footer is written last). So new rows go to a
journal beside the file every second, fsynced, and are merged into the parquet file now and
then by writing a new file and renaming it over the old one (store/recording_files.py has
the file protocol). A kill loses at most the last second; a reader only ever sees a complete
parquet file; the next recording to the same file, or a replay of it, picks up the journal.
The journal is why a kill's loss does not grow with the recording: rewriting the whole file
on every write would (`python bench/recorder_kill.py --rate 5000` measures both). A merge happens at least every
MAX_INTERVAL_S and takes at most WRITE_SHARE of the wall clock; rows are held in memory only
until they are merged. Writes happen in a background thread so scoring never waits for the disk. A
lock file keeps two finterm processes from recording to one file. The columns make the
file replayable with --replay; `text` is stored the way the X API and the replay files carry
it (&, <, > as entities), so replaying a recording gives back exactly the text that was scored.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from pathlib import Path

from finterm.errors import InputError
from finterm.records import Scored
from finterm.store import recording_files as files
from finterm.store.durable import parquet_target

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two recorders on one file are not caught there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("finterm.sinks.recorder")

#: Time between journal writes (what a kill can lose; also the shortest time between merges),
#: the longest time between merges, and the share of the wall clock merges may take.
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 60.0
WRITE_SHARE = 0.1

COLUMNS = ("created_at", "id", "user", "symbols", "text", "lang", "source",
           "sentiment", "sentiment_score", "topic", "topic_score", "batch_latency_ms", "url", "crowd_sentiment")


def scored_row(s: Scored) -> dict:
    """The recording's columns for one scored tweet (replay reads created_at, id, user, symbols, text)."""
    t = s.tweet
    return {
        "created_at": t.created_at, "id": t.id, "user": t.author, "symbols": " ".join(t.tickers),
        "text": html.escape(t.text, quote=False), "lang": t.lang, "source": t.source,
        "sentiment": s.sentiment, "sentiment_score": float(s.sentiment_score),
        "topic": s.topic, "topic_score": float(s.topic_score),
        "batch_latency_ms": float(s.batch_latency_ms),
        "url": t.url, "crowd_sentiment": t.crowd_sentiment,
    }


def _schema():
    import polars as pl

    return {
        "created_at": pl.Datetime("us", "UTC"), "id": pl.String, "user": pl.String, "symbols": pl.String,
        "text": pl.String, "lang": pl.String, "source": pl.String, "sentiment": pl.String,
        "sentiment_score": pl.Float64, "topic": pl.String, "topic_score": pl.Float64,
        "batch_latency_ms": pl.Float64,
        # Added with the live sources; recordings from before have no such columns, and a
        # recording continued into such a file gets them (nulls for the old rows).
        "url": pl.String, "crowd_sentiment": pl.String,
    }


class Recorder:
    """A sink: `recorder(batch)` queues rows; a writer thread journals them every second and
    merges the journal into the parquet file at a pace set by how long a merge takes."""

    name = "recorder"

    def __init__(self, path: str | Path, min_interval_s: float = MIN_INTERVAL_S,
                 max_interval_s: float = MAX_INTERVAL_S):
        import polars as pl

        self.path = parquet_target(path, "a recording")
        try:
            self._lock_file = files.lock_path(self.path).open("a")
        except OSError as exc:
            raise InputError(f"cannot record to {self.path}: {exc.strerror or exc}") from None
        try:
            if fcntl is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise InputError(f"{self.path}: another finterm is recording to this file; record to another name") from None
        try:
            self.recovered_rows = self._open_existing(pl)
        except BaseException:
            self._release_lock()
            raise
        self.existing_rows = files.parquet_rows(self.path)
        self._pending: list[dict] = []  # queued by the pipeline, not on disk yet
        self._unmerged: list[dict] = []  # in the journal, not in the parquet file yet
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self.interval_s = min_interval_s  # between merges
        self.rows_written = self.existing_rows  # rows in the parquet file
        self.rows_journaled = self.existing_rows  # rows on disk (file + journal)
        self.last_write_s = 0.0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._writer, name="finterm-recorder", daemon=True)
        self._thread.start()

    def _open_existing(self, pl) -> int:
        """Check an existing file is a recording and finish what a killed run left behind."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # a merge cut short
            stale.unlink(missing_ok=True)
        if self.path.exists():
            try:
                columns = pl.read_parquet_schema(self.path)
            except Exception:
                raise InputError(f"{self.path}: exists and is not a readable parquet file; will not overwrite it") from None
            if "created_at" not in columns or "text" not in columns:
                raise InputError(f"{self.path}: exists but is not a finterm recording (no created_at/text columns)")
        try:
            recovered = files.finish_interrupted(self.path, _schema())
        except OSError as exc:
            raise InputError(f"cannot finish the interrupted recording {self.path}: {exc.strerror or exc}") from None
        if recovered:
            log.warning("%s: merged %d rows an interrupted recording had left in its journal", self.path, recovered)
        return recovered

    def __call__(self, batch: list[Scored]) -> None:
        if self.error:
            raise OSError(self.error)
        rows = [scored_row(s) for s in batch]
        with self._lock:
            self._pending.extend(rows)

    def _writer(self) -> None:
        next_merge = time.monotonic() + self.interval_s
        while not self._closed.wait(self.min_interval_s):
            merge = time.monotonic() >= next_merge
            self._logged(self.flush if merge else self.journal)
            if merge:
                next_merge = time.monotonic() + self.interval_s
        self._logged(self.flush)

    def _logged(self, step) -> None:
        try:
            step()
            self.error = None
        except Exception as exc:
            self.error = f"cannot write {self.path}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
            log.exception("recording failed")

    def journal(self) -> None:
        """Put the queued rows on disk (appended to the journal, fsynced)."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return
        try:
            files.append_journal(self.path, rows)
        except BaseException:
            with self._lock:  # keep the rows for the next try
                self._pending[:0] = rows
            raise
        self._unmerged += rows
        self.rows_journaled += len(rows)

    def flush(self) -> None:
        """Journal the queued rows, then merge the journal into the parquet file."""
        self.journal()
        if not self._unmerged:
            return
        t0 = time.monotonic()
        self.rows_written = files.merge(self.path, self._unmerged, _schema(), self.rows_written)
        self._unmerged = []
        self.last_write_s = time.monotonic() - t0
        self.interval_s = min(self.max_interval_s, max(self.min_interval_s, self.last_write_s / WRITE_SHARE))
        log.debug("recorded %d rows to %s in %.3f s; next merge in %.1f s",
                  self.rows_written, self.path, self.last_write_s, self.interval_s)

    def close(self) -> None:
        """Final merge; raises if the recording could not be written."""
        if not self._closed.is_set():
            self._closed.set()
            self._thread.join()
            self._release_lock()
        if self.error:
            raise OSError(self.error)

    def _release_lock(self) -> None:
        files.lock_path(self.path).unlink(missing_ok=True)
        self._lock_file.close()
