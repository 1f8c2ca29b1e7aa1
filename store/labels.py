"""The labels file: the user's corrections of the models, kept safe across a SIGKILL.

A correction is one row per (tweet id, task): the tweet's text, what the models said (labels,
scores, the margin between the top two classes of that task), the corrected label, and when.
Correcting the same tweet's task again replaces the earlier row.

Parquet cannot be appended to in place, so each `put` first appends the new rows to a JSONL
journal beside the file (`labels.parquet.journal`) and fsyncs it: once `put` returns, the
correction survives a kill. The journal is folded into the parquet file (rewritten whole: temp
file, fsync, `os.replace`, so a reader never sees half a file) every COMPACT_EVERY rows and at
`close()`, not at every put: a rewrite costs time that grows with the file, and a put must
answer at once in the UI. A kill between the two steps leaves journal rows that may already
be in the parquet file; reading (`read_corrections`) folds the journal over the parquet rows
in order, so that replay changes nothing. A torn last journal
line (killed mid-write, never acknowledged) is skipped. An advisory lock around `put` lets a
monitor and a review session share one file without overwriting each other's rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from finterm.errors import InputError
from finterm.records import Scored

from .durable import fsync_dir, parquet_target

TASKS = ("sentiment", "topic")
ENV = "FINTERM_LABELS"


@dataclass(frozen=True)
class Correction:
    """One corrected label: the tweet, what the models said, what the user says."""

    id: str
    task: str
    label: str
    text: str
    tickers: str = ""
    created_at: datetime | None = None
    model_label: str = ""
    model_score: float = 0.0
    margin: float = 0.0
    model_sentiment: str = ""
    sentiment_score: float = 0.0
    model_topic: str = ""
    topic_score: float = 0.0
    time: datetime | None = None
    origin: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.task)

    @property
    def agrees(self) -> bool:
        """The user kept the model's label (an accepted pre-annotation)."""
        return self.label == self.model_label


COLUMNS = tuple(f.name for f in fields(Correction))


def margin(probs: dict[str, float], score: float) -> float:
    """Top class minus the runner-up: small means the model hesitated between two labels.

    Without the full vector (older records), 2*score - 1 is the margin if all the rest
    went to one class, the most doubtful reading of that score.
    """
    if len(probs) >= 2:
        top = sorted(probs.values(), reverse=True)
        return float(top[0] - top[1])
    return max(0.0, 2.0 * float(score) - 1.0)


def task_view(sc: Scored, task: str) -> tuple[str, float, dict[str, float]]:
    """(label, score, probabilities) of one task of a scored tweet."""
    if task == "sentiment":
        return sc.sentiment, sc.sentiment_score, sc.sentiment_probs
    if task == "topic":
        return sc.topic, sc.topic_score, sc.topic_probs
    raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")


def correction_for(sc: Scored, task: str, label: str, origin: str = "", now: datetime | None = None) -> Correction:
    model_label, model_score, probs = task_view(sc, task)
    t = sc.tweet
    return Correction(
        id=t.id, task=task, label=label, text=t.text, tickers=" ".join(t.tickers), created_at=t.created_at,
        model_label=model_label, model_score=float(model_score), margin=margin(probs, model_score),
        model_sentiment=sc.sentiment, sentiment_score=float(sc.sentiment_score),
        model_topic=sc.topic, topic_score=float(sc.topic_score),
        time=now or datetime.now(timezone.utc), origin=origin,
    )


def default_labels_path() -> Path:
    """$FINTERM_LABELS, else $XDG_DATA_HOME/finterm/labels.parquet (~/.local/share/finterm/)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "finterm" / "labels.parquet"


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


# -- reading ---------------------------------------------------------------------------------
def _schema():
    import polars as pl

    when = pl.Datetime("us", "UTC")
    numbers = {"model_score", "margin", "sentiment_score", "topic_score"}
    return {c: when if c in ("created_at", "time") else pl.Float64 if c in numbers else pl.String for c in COLUMNS}


def _from_json(obj: dict) -> Correction | None:
    try:
        kw = {k: obj.get(k) for k in COLUMNS if k in obj}
        for k in ("created_at", "time"):
            if kw.get(k):
                kw[k] = datetime.fromisoformat(kw[k])
        return Correction(**kw)
    except (TypeError, ValueError):
        return None


def _to_json(c: Correction) -> str:
    d = asdict(c)
    for k in ("created_at", "time"):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    return json.dumps(d, ensure_ascii=False)


def _read_parquet(path: Path) -> list[Correction]:
    import polars as pl

    if not path.is_file():
        return []
    try:
        df = pl.read_parquet(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the labels file ({exc.__class__.__name__})") from None
    missing = {"id", "task", "label", "text"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: not a finterm labels file (no column {', '.join(sorted(missing))})")
    keep = [c for c in COLUMNS if c in df.columns]
    return [Correction(**r) for r in df.select(keep).to_dicts()]


def _read_journal(path: Path) -> list[Correction]:
    jp = journal_path(path)
    if not jp.is_file():
        return []
    out = []
    with jp.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn by a kill mid-write: never acknowledged
            try:
                c = _from_json(json.loads(line))
            except ValueError:
                c = None
            if c is not None:
                out.append(c)
    return out


def _fold(merged: dict[tuple[str, str], Correction], rows: Iterable[Correction]) -> dict[tuple[str, str], Correction]:
    """Lay `rows` over `merged` in order, the latest per (id, task); returns `merged`."""
    for c in rows:
        merged.pop(c.key, None)  # a replaced row moves to the end: the file keeps correction order
        merged[c.key] = c
    return merged


def read_corrections(path: str | Path) -> dict[tuple[str, str], Correction]:
    """Every correction on disk, the latest per (id, task): parquet rows, then the journal over them."""
    p = Path(path).expanduser()
    return _fold({}, (*_read_parquet(p), *_read_journal(p)))


def to_frame(corrections: Iterable[Correction]):
    import polars as pl

    rows = [asdict(c) for c in corrections]
    return pl.DataFrame(rows, schema=_schema(), orient="row") if rows else pl.DataFrame(schema=_schema())


def export_labels(path: str | Path, out: str | Path, task: str) -> int:
    """Write one task's corrections as `text,label` (CSV or parquet by suffix), the shape finterm-train reads."""
    if task not in TASKS:
        raise InputError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    o = Path(out).expanduser()
    rows = [c for c in read_corrections(path).values() if c.task == task]
    df = to_frame(rows).select("id", "text", "label")
    if o.suffix.lower() == ".csv":
        _atomic(o, lambda tmp: df.write_csv(tmp))
    elif o.suffix.lower() in (".parquet", ".pq"):
        _atomic(o, lambda tmp: df.write_parquet(tmp))
    else:
        raise InputError(f"{o}: export writes .csv or .parquet")
    return len(rows)


# -- writing ---------------------------------------------------------------------------------
def _atomic(path: Path, write) -> None:
    """`write(tmp_path)` beside `path`, fsync, then replace `path` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


#: Journal rows that trigger folding the journal into the parquet file during `put`.
COMPACT_EVERY = 256


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class LabelStore:
    """The corrections in one labels file; `put` is durable when it returns."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = parquet_target(path or default_labels_path(), "the labels file")
        self._base: dict[tuple[str, str], Correction] = {}
        self._base_stamp: object = "never read"
        self._journal_rows = 0
        self._rows: dict[tuple[str, str], Correction] = {}
        self._refresh()

    def _refresh(self) -> None:
        """Parquet rows (re-read only when the file changed: another process folded it), then
        the journal over them, which holds this and other processes' latest rows."""
        stamp = _stamp(self.path)
        if stamp != self._base_stamp:
            self._base = _fold({}, _read_parquet(self.path))
            self._base_stamp = stamp
        journal = _read_journal(self.path)
        self._rows, self._journal_rows = _fold(dict(self._base), journal), len(journal)

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, tweet_id: str, task: str) -> Correction | None:
        return self._rows.get((tweet_id, task))

    def labels_for(self, tweet_id: str) -> dict[str, str]:
        """{task: corrected label} for one tweet (empty when never corrected)."""
        return {t: c.label for t in TASKS if (c := self._rows.get((tweet_id, t))) is not None}

    def corrections(self) -> list[Correction]:
        return list(self._rows.values())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def put(self, corrections: Iterable[Correction]) -> int:
        """Record corrections (replacing earlier ones of the same tweet and task); returns how many."""
        new = list(corrections)
        if not new:
            return 0
        for c in new:
            if c.task not in TASKS:
                raise ValueError(f"unknown task {c.task!r}")
        now = datetime.now(timezone.utc)
        new = [c if c.time is not None else replace(c, time=now) for c in new]
        with self._locked():
            jp = journal_path(self.path)
            with open(jp, "a+b") as f:
                lead = b""
                if f.tell() > 0:  # a line torn by a kill must not swallow the next one
                    f.seek(-1, os.SEEK_END)
                    lead = b"" if f.read(1) == b"\n" else b"\n"
                f.write(lead + "".join(_to_json(c) + "\n" for c in new).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            self._refresh()  # also what another process wrote meanwhile
            if self._journal_rows >= COMPACT_EVERY:
                self._compact(jp)
        return len(new)

    def close(self) -> None:
        """Fold what the journal holds into the parquet file (at exit; a kill skips it safely)."""
        with self._locked():
            self._refresh()
            if self._journal_rows:
                self._compact(journal_path(self.path))

    def _compact(self, jp: Path) -> None:
        """Fold the journal into the parquet file, then empty the journal."""
        df = to_frame(self._rows.values())
        _atomic(self.path, lambda tmp: df.write_parquet(tmp))
        with open(jp, "w") as f:
            os.fsync(f.fileno())
        self._base, self._base_stamp, self._journal_rows = dict(self._rows), _stamp(self.path), 0
