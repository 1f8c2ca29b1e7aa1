"""`finterm-train student --transfer FILE`: unlabeled tweets the teacher labels for the student.

A pruned student copies its teacher better the more of the teacher it sees. The labeled
split is small (9.5k sentiment tweets), but other finance tweets are plentiful: the other
task's training file, a recording. Their texts are scored by the teacher(s) once and the
student distils those soft targets (the KL term only; no label loss on them). Texts in the
validation or labeled training split are dropped, so the validation accuracy stays a test
score and a labeled row is never counted twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finterm.text import clean_text, model_text

from .backbone import load_classifier
from .common import log, predict_logits
from .data import DataError, Split, read_table, sha256_file

#: Cached teacher logits on transfer texts: <teacher>/transfer_logits_<digest>.npy
TRANSFER_CACHE_PREFIX = "transfer_logits_"


@dataclass
class Transfer:
    """Unlabeled texts ready for distillation; `files` says where they came from."""

    texts: list[str]
    files: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def digest(self) -> str:
        return hashlib.sha256("\x1e".join(self.texts).encode("utf-8")).hexdigest()

    def summary(self) -> str:
        return "; ".join(f"{Path(f['file']).name}: {file_counts(f)}" for f in self.files)


def file_counts(f: dict) -> str:
    """What one transfer file gave, in the words the log and the model card share."""
    return (f"{f['kept']} of {f['rows']} texts kept ({f['in_valid']} in the validation split, "
            f"{f['in_train']} in the training split, {f['duplicates']} duplicates or empty dropped)")


def load_transfer(paths: list[Path], train: Split, valid: Split, text_col: str = "text") -> Transfer:
    """Texts of each file (any table with a text column), cleaned as at run time, deduplicated,
    minus every validation and labeled training text."""
    valid_texts, train_texts = set(valid.texts), set(train.texts)
    seen: set[str] = set()
    out = Transfer(texts=[])
    for p in paths:
        p = Path(p).expanduser()
        df = read_table(p)
        if text_col not in df.columns:
            raise DataError(f"--transfer {p} has no column {text_col!r} (columns: {', '.join(df.columns)})")
        raw = df[text_col].to_list()
        in_valid = in_train = dup = 0
        for t in raw:
            text = model_text(clean_text(str(t or "")))
            if text in valid_texts:
                in_valid += 1
            elif text in train_texts:
                in_train += 1
            elif not text or text in seen:
                dup += 1
            else:
                seen.add(text)
                out.texts.append(text)
        kept = len(raw) - in_valid - in_train - dup
        out.files.append({"file": str(p), "sha256": sha256_file(p), "rows": len(raw), "kept": kept,
                          "in_valid": in_valid, "in_train": in_train, "duplicates": dup})
    if not out.texts:
        raise DataError("--transfer: no usable text left (all empty, duplicated or in the training/validation splits)")
    return out


def transfer_logits_for(teacher_dir: Path, transfer: Transfer, seqs: list[list[int]], pad: int, labels: list[str]) -> np.ndarray:
    """The teacher's logits on the transfer texts, computed once and cached beside the teacher,
    keyed by the texts (train_teacher clears them with clear_transfer_caches when it retrains)."""
    cache = teacher_dir / f"{TRANSFER_CACHE_PREFIX}{transfer.digest[:16]}.npy"
    if cache.is_file():
        return np.load(cache)
    log(f"teacher logits for {len(seqs)} transfer texts ({teacher_dir})")
    model = load_classifier(teacher_dir, labels)
    logits = predict_logits(model, seqs, pad, desc="teacher transfer")
    np.save(cache, logits)
    return logits


def clear_transfer_caches(teacher_dir: Path) -> None:
    """Drop the cached transfer logits of a teacher that is being trained anew."""
    for p in teacher_dir.glob(f"{TRANSFER_CACHE_PREFIX}*.npy"):
        p.unlink(missing_ok=True)


def describe(transfer: Transfer, logits: np.ndarray, labels: list[str]) -> dict:
    """The files, the text count and how the teacher labeled them (student.json, log, card)."""
    counts = np.bincount(logits.argmax(1), minlength=len(labels))
    return {"files": transfer.files, "texts": len(transfer),
            "teacher_labels": {name: int(c) for name, c in zip(labels, counts)}}
