"""`finterm-train --extra LABELS`: the user's corrections mixed into training, measured honestly.

The corrections (finterm's labels file, or any `text,label` table such as `finterm label
--export`) are read for one task, deduplicated by tweet id (the latest correction wins),
and every correction whose text is in the validation split is dropped, so the standard
accuracy stays comparable. A held-back part is set aside by a hash of the text (the same
rows every run, and a text never lands on both sides), to measure what the model learned
about the user's tweets. The rest is mixed into the training split with a weight, as a
weight per row for trainers that take one, or as repeated rows for those that do not.
Base training rows with the same text as a correction are dropped: the correction
supersedes them, and a held-back text must not be trained on.

Texts go through the same `clean_text` + `model_text` as training and run time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finterm.text import clean_text, model_text

from .data import DataError, Split, read_table, sha256_file

#: Defaults: a fifth of the corrections held back; each trained correction counts three times.
HOLDOUT = 0.2
WEIGHT = 3.0


@dataclass
class Extra:
    """The corrections of one task, ready to mix: `train` rows with `weight`, `heldout` for measuring."""

    path: Path
    task: str
    train: Split
    heldout: Split
    weight: float
    duplicates: int = 0
    leaks: int = 0
    other_tasks: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.path.name}: {len(self.train) + len(self.heldout)} {self.task} corrections "
                f"({len(self.train)} to train at weight {self.weight:g}, {len(self.heldout)} held back; "
                f"{self.duplicates} older duplicates and {self.leaks} validation texts dropped)")


def _held_back(text: str, holdout: float, seed: int) -> bool:
    h = hashlib.sha256(f"{seed}\x1f{text}".encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < holdout


def _read_corrections_table(p: Path):
    """A finterm labels file with its journal folded in (rows not yet compacted), else any table."""
    from finterm.store.labels import journal_path, read_corrections, to_frame

    if p.suffix.lower() in (".parquet", ".pq") and journal_path(p).is_file():
        if not p.is_file() and not journal_path(p).stat().st_size:
            raise DataError(f"data file {p} does not exist")
        return to_frame(read_corrections(p).values())
    return read_table(p)


def _digest(p: Path) -> str:
    """sha256 of the file, and of its corrections journal when there is one."""
    from finterm.store.labels import journal_path

    parts = [sha256_file(f) for f in (p, journal_path(p)) if f.is_file()]
    return parts[0] if len(parts) == 1 else hashlib.sha256("+".join(parts).encode()).hexdigest()


def load_extra(path: str | Path, task: str, labels: list[str], valid: Split, *, holdout: float = HOLDOUT,
               weight: float = WEIGHT, seed: int = 0) -> Extra:
    """Read the corrections for `task` from `path` and split them (see the module docstring)."""
    if not 0.0 <= holdout < 1.0:
        raise DataError(f"--extra-holdout must be in [0, 1), not {holdout}")
    if not weight > 0:
        raise DataError(f"--extra-weight must be positive, not {weight}")
    p = Path(path).expanduser()
    df = _read_corrections_table(p)
    for col in ("text", "label"):
        if col not in df.columns:
            raise DataError(f"{p} has no column {col!r} (a finterm labels file or a text,label table)")
    rows = df.to_dicts()
    other = 0
    if "task" in df.columns:
        other = sum(1 for r in rows if r.get("task") != task)
        rows = [r for r in rows if r.get("task") == task]
    if "time" in df.columns:  # oldest first, so the latest correction of an id wins below
        rows.sort(key=lambda r: (r.get("time") is None, r.get("time") or 0))
    by_name = {name.lower(): i for i, name in enumerate(labels)}
    latest: dict[str, tuple[str, int]] = {}
    for n, r in enumerate(rows):
        label = str(r.get("label") or "").strip()
        if label.lower() not in by_name:
            raise DataError(f"{p}: {task} label {label!r} is not one of {labels}")
        text = model_text(clean_text(str(r.get("text") or "")))
        key = str(r["id"]) if r.get("id") not in (None, "") else f"text:{text}"
        latest.pop(key, None)
        latest[key] = (text, by_name[label.lower()])
    duplicates = len(rows) - len(latest)
    valid_texts = set(valid.texts)
    kept = [(t, y) for t, y in latest.values() if t and t not in valid_texts]
    leaks = len(latest) - len(kept)
    train_rows = [(t, y) for t, y in kept if not _held_back(t, holdout, seed)]
    held_rows = [(t, y) for t, y in kept if _held_back(t, holdout, seed)]
    if holdout > 0 and not held_rows and len(kept) >= 2:
        # too few rows for the hash to pick any: hold back the one it ranks first, deterministically
        first = min(kept, key=lambda ty: hashlib.sha256(f"{seed}\x1f{ty[0]}".encode()).digest())
        held_rows = [ty for ty in kept if ty[0] == first[0]]
        train_rows = [ty for ty in kept if ty[0] != first[0]]
    digest = _digest(p)

    def split(part: list[tuple[str, int]]) -> Split:
        return Split(path=p, sha256=digest, texts=[t for t, _ in part], labels=np.asarray([y for _, y in part], dtype=np.int64))

    notes = []
    if other:
        notes.append(f"{other} corrections of other tasks ignored")
    return Extra(path=p, task=task, train=split(train_rows), heldout=split(held_rows), weight=float(weight),
                 duplicates=duplicates, leaks=leaks, other_tasks=other, notes=notes)


def mix(train: Split, extra: Extra) -> tuple[Split, np.ndarray]:
    """The training split with the corrections appended, and a loss weight per row.

    Base rows whose text is a correction (trained or held back) are dropped. The mixed
    split's sha256 covers both files, so a teacher trained without the corrections is not
    mistaken for one trained with them.
    """
    drop = set(extra.train.texts) | set(extra.heldout.texts)
    keep = [i for i, t in enumerate(train.texts) if t not in drop]
    texts = [train.texts[i] for i in keep] + list(extra.train.texts)
    labels = np.concatenate([train.labels[keep], extra.train.labels]).astype(np.int64)
    weights = np.concatenate([np.ones(len(keep)), np.full(len(extra.train), extra.weight)]).astype(np.float32)
    digest = hashlib.sha256(f"{train.sha256}+{extra.train.sha256}+{len(extra.train)}w{extra.weight:g}".encode()).hexdigest()
    return Split(path=train.path, sha256=digest, texts=texts, labels=labels), weights


def replicate(train: Split, extra: Extra) -> Split:
    """`mix` for trainers without per-row weights: each correction repeated round(weight) times."""
    mixed, weights = mix(train, extra)
    reps = np.maximum(1, np.rint(weights)).astype(int)
    idx = np.repeat(np.arange(len(mixed)), reps)
    return Split(path=mixed.path, sha256=mixed.sha256, texts=[mixed.texts[i] for i in idx], labels=mixed.labels[idx])


def accuracy_on(folder: str | Path, split: Split, labels: list[str], engine: str = "onnxruntime") -> float | None:
    """Accuracy of an exported model folder on a split through the runtime engine (None: empty split)."""
    if not len(split):
        return None
    from finterm.engine.model_folder import ModelFolder

    from .evaluate import engine_logits

    names = ModelFolder.load(folder).labels
    logits, _ = engine_logits(Path(folder), split.texts, engine)
    to_task = np.asarray([labels.index(n) if n in labels else -1 for n in names])
    return float((to_task[logits.argmax(1)] == split.labels).mean())


def report(rows: dict[str, tuple[int, float | None, float | None]]) -> str:
    """A small table: name -> (rows, accuracy before, accuracy after)."""
    def cell(v: float | None) -> str:
        return "     –" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.4f}"

    width = max(len(f"{k} ({n})") for k, (n, _, _) in rows.items()) if rows else 10
    out = [f"{'':<{width}}  before   after   change"]
    for name, (n, before, after) in rows.items():
        change = f"{after - before:+.4f}" if before is not None and after is not None else "      –"
        out.append(f"{f'{name} ({n})':<{width}}  {cell(before)}  {cell(after)}  {change}")
    return "\n".join(out)
