"""Data for the one encoder with two heads (`--task finterm`): three sources, one batch plan.

- `news_sentiment`: Twitter Financial News sentiment (Bearish / Bullish / Neutral), 64 tokens;
- `news_topic`: Twitter Financial News topics (20), 96 tokens;
- `stocktwits`: StockTwits messages with their authors' Bullish / Bearish tags (no Neutral),
  64 tokens. Weak labels: they train the sentiment head through a class-balanced loss over the
  Bullish and Bearish logits only (multitask.py).

A batch comes from one source (its own length bucket and loss). An epoch covers every news row
and `chatter_per_epoch` StockTwits rows, drawn without replacement across epochs, so the 56k
messages do not drown the 9.5k labeled news tweets and every message is still seen.

CSV files are read with the standard library (data.read_columns), so this runs on the GPU
machine, whose Python has no polars.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finterm import PROJECT_ROOT

from .data import SENTIMENT_LABELS, TOPIC_LABELS, DataError, Split, default_data_dir, encode, length_batches, load_split

STOCKTWITS_ENV = "FINTERM_STOCKTWITS"

#: Heads of the model, their labels (id order) and the ONNX output that carries each.
HEADS = {"sentiment": SENTIMENT_LABELS, "topic": TOPIC_LABELS}
OUTPUTS = {"sentiment": "sentiment_logits", "topic": "topic_logits"}
CHATTER_LABELS = ["Bearish", "Bullish"]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    head: str
    train: str
    valid: str
    labels: list[str]
    max_length: int
    folder: str  # "news" or "stocktwits"


SOURCES = {
    "news_sentiment": SourceSpec("news_sentiment", "sentiment", "sent_train.csv", "sent_valid.csv", SENTIMENT_LABELS, 64, "news"),
    "news_topic": SourceSpec("news_topic", "topic", "topic_train.csv", "topic_valid.csv", TOPIC_LABELS, 96, "news"),
    "stocktwits": SourceSpec("stocktwits", "sentiment", "train.csv", "valid.csv", CHATTER_LABELS, 64, "stocktwits"),
}


def default_stocktwits_dir() -> Path:
    """$FINTERM_STOCKTWITS, else stocktwits/ beside the news folder, else ../shared/data/stocktwits."""
    env = os.environ.get(STOCKTWITS_ENV)
    if env:
        return Path(env).expanduser()
    beside = default_data_dir().parent / "stocktwits"
    return beside if beside.is_dir() else (PROJECT_ROOT.parent / "shared" / "data" / "stocktwits").resolve()


@dataclass
class Source:
    """One source's splits, tokenized."""

    spec: SourceSpec
    train: Split
    valid: Split
    train_ids: list[list[int]] = field(default_factory=list)
    valid_ids: list[list[int]] = field(default_factory=list)
    #: Training rows whose model text equals a validation text of the same source (kept: the
    #: datasets' own split, they differ in link paths only) and of another source (dropped).
    twins_kept: int = 0
    dropped_cross: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def head(self) -> str:
        return self.spec.head

    def head_labels(self) -> np.ndarray:
        """Training labels as ids of the head's label list (StockTwits 0/1 are Bearish/Bullish there too)."""
        names = HEADS[self.head]
        return np.asarray([names.index(self.spec.labels[i]) for i in self.train.labels], dtype=np.int64)

    def valid_head_labels(self) -> np.ndarray:
        names = HEADS[self.head]
        return np.asarray([names.index(self.spec.labels[i]) for i in self.valid.labels], dtype=np.int64)


def _head(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(path=split.path, sha256=split.sha256, texts=split.texts[:n], labels=split.labels[:n])


def _drop(split: Split, keep: list[int]) -> Split:
    digest = split.sha256 if len(keep) == len(split) else hashlib.sha256(
        f"{split.sha256}:{len(keep)}".encode()).hexdigest()
    return Split(path=split.path, sha256=digest, texts=[split.texts[i] for i in keep], labels=split.labels[keep])


def load_sources(news_dir: Path | None = None, stocktwits_dir: Path | None = None, limit: int | None = None,
                 extra=None) -> dict[str, Source]:
    """The three sources' splits (the first `limit` rows of each file when given, for smoke runs).

    A training text that is a validation text of another source is dropped (none are in the
    shipped files); twins inside one dataset (same text but for link paths) are the datasets'
    own split and kept, counted for the model card. `extra`: {task: training.extra.Extra} of
    the user's corrections, mixed into the news source of that task (extra.replicate)."""
    news_dir = news_dir or default_data_dir()
    stocktwits_dir = stocktwits_dir or default_stocktwits_dir()
    out: dict[str, Source] = {}
    for name, spec in SOURCES.items():
        folder = news_dir if spec.folder == "news" else stocktwits_dir
        train = _head(load_split(folder / spec.train, spec.labels), limit)
        valid = _head(load_split(folder / spec.valid, spec.labels), limit)
        out[name] = Source(spec, train, valid)
    if extra:
        from .extra import replicate

        for task, ex in extra.items():
            src = next(s for s in out.values() if s.spec.folder == "news" and s.head == task)
            src.train = replicate(src.train, ex)
    valid_of = {n: set(s.valid.texts) for n, s in out.items()}
    for name, src in out.items():
        own = valid_of[name]
        others = set().union(*(v for n, v in valid_of.items() if n != name))
        keep = [i for i, t in enumerate(src.train.texts) if t not in others]
        src.dropped_cross = len(src.train) - len(keep)
        src.train = _drop(src.train, keep)
        src.twins_kept = sum(t in own for t in src.train.texts)
    return out


def tokenize_sources(sources: dict[str, Source], tok_factory) -> None:
    """Token ids for every split, each source truncated at its own length (64 / 96 tokens)."""
    for src in sources.values():
        tok = tok_factory(src.spec.max_length)
        src.train_ids = encode(tok, src.train.texts)
        src.valid_ids = encode(tok, src.valid.texts)


def chatter_balance(src: Source) -> np.ndarray:
    """Class weights n / (2 n_c) for Bearish, Bullish: each tag weighs half of the loss."""
    counts = np.bincount(src.train.labels, minlength=2).astype(np.float64)
    return (counts.sum() / (2.0 * np.maximum(counts, 1.0))).astype(np.float32)


def _chatter_rows(n: int, per_epoch: int, epoch: int, seed: int) -> list[int]:
    """Rows of epoch `epoch` from a stream of permutations: every row once before any repeats."""
    out, start = [], epoch * per_epoch
    perms: dict[int, np.ndarray] = {}
    for pos in range(start, start + per_epoch):
        cycle, off = divmod(pos, n)
        if cycle not in perms:
            perms[cycle] = np.random.default_rng([seed, 7919, cycle]).permutation(n)
        out.append(int(perms[cycle][off]))
    return out


def epoch_plan(sources: dict[str, Source], batch_size: int, epoch: int, seed: int,
               chatter_per_epoch: int | None) -> list[tuple[str, list[int]]]:
    """(source, row indices) batches of one epoch: length-bucketed per source, then shuffled together."""
    plan: list[tuple[str, list[int]]] = []
    for k, (name, src) in enumerate(sources.items()):
        n = len(src.train_ids)
        if not n:
            continue
        rows = list(range(n))
        if name == "stocktwits" and chatter_per_epoch and chatter_per_epoch < n:
            rows = _chatter_rows(n, chatter_per_epoch, epoch, seed)
        lengths = [len(src.train_ids[i]) for i in rows]
        for b in length_batches(lengths, batch_size, shuffle=True, seed=seed * 1000 + epoch * 10 + k):
            plan.append((name, [rows[j] for j in b]))
    random.Random(seed * 7 + epoch).shuffle(plan)
    return plan


def steps_per_epoch(sources: dict[str, Source], batch_size: int, chatter_per_epoch: int | None) -> int:
    total = 0
    for name, src in sources.items():
        n = len(src.train_ids)
        if name == "stocktwits" and chatter_per_epoch:
            n = min(n, chatter_per_epoch)
        total += math.ceil(n / batch_size) if n else 0
    return total


class BatchStream:
    """Batches epoch after epoch, with the epoch number of each (the plan is drawn per epoch)."""

    def __init__(self, sources, batch_size: int, seed: int, chatter_per_epoch: int | None):
        self.sources, self.batch_size, self.seed, self.chatter = sources, batch_size, seed, chatter_per_epoch
        self.epoch, self._plan, self._pos = 0, epoch_plan(sources, batch_size, 0, seed, chatter_per_epoch), 0

    def next(self) -> tuple[str, list[int]]:
        if self._pos >= len(self._plan):
            self.epoch += 1
            self._plan, self._pos = epoch_plan(self.sources, self.batch_size, self.epoch, self.seed, self.chatter), 0
        b = self._plan[self._pos]
        self._pos += 1
        return b


def data_summary(sources: dict[str, Source]) -> dict:
    """Files, rows and checksums per source, for teacher.json / student.json and the model card."""
    out = {}
    for name, s in sources.items():
        out[name] = {
            "head": s.head,
            "train": {"file": str(s.train.path), "rows": len(s.train), "sha256": s.train.sha256},
            "valid": {"file": str(s.valid.path), "rows": len(s.valid), "sha256": s.valid.sha256},
            "max_length": s.spec.max_length,
            "train_rows_with_a_validation_twin": s.twins_kept,
            "train_rows_dropped_in_another_validation_split": s.dropped_cross,
            "label_counts": {s.spec.labels[i]: int(c) for i, c in enumerate(np.bincount(s.train.labels, minlength=len(s.spec.labels)))},
        }
    return out


def check_files(news_dir: Path, stocktwits_dir: Path) -> None:
    """Fail in one line when a source file is missing."""
    for spec in SOURCES.values():
        folder = news_dir if spec.folder == "news" else stocktwits_dir
        for f in (spec.train, spec.valid):
            if not (folder / f).is_file():
                hint = f"--stocktwits DIR or ${STOCKTWITS_ENV}" if spec.folder == "stocktwits" else "--data-dir DIR"
                raise DataError(f"{folder / f} does not exist ({hint})")
