"""Training data: tables (CSV, parquet, JSONL) -> model texts + label ids, and cheap batches.

Texts go through the engine's own `clean_text` + `model_text`, so the exported model sees
at run time exactly what it saw in training. Batches are length-bucketed and padded only to
their longest row: tweets average 28-44 tokens, so padding to a fixed 128 would waste most
of the CPU time.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finterm import PROJECT_ROOT
from finterm.text import clean_text, model_text

DATA_ENV = "FINTERM_DATA"

SENTIMENT_LABELS = ["Bearish", "Bullish", "Neutral"]
TOPIC_LABELS = [
    "Analyst Update", "Fed | Central Banks", "Company | Product News", "Treasuries | Corporate Debt",
    "Dividend", "Earnings", "Energy | Oil", "Financials", "Currencies", "General News | Opinion",
    "Gold | Metals | Materials", "IPO", "Legal | Regulation", "M&A | Investments", "Macro", "Markets",
    "Politics", "Personnel Change", "Stock Commentary", "Stock Movement",
]

#: Per task: default files inside the data folder, label names (id order), max tokens.
TASKS = {
    "sentiment": {"train": "sent_train.csv", "valid": "sent_valid.csv", "labels": SENTIMENT_LABELS, "max_length": 64},
    "topic": {"train": "topic_train.csv", "valid": "topic_valid.csv", "labels": TOPIC_LABELS, "max_length": 96},
}


class DataError(Exception):
    """A data file is missing or unusable (the CLI prints it as one line)."""


def default_data_dir() -> Path:
    """$FINTERM_DATA, else ../shared/data/twitter-financial-news beside the repository."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return (PROJECT_ROOT.parent / "shared" / "data" / "twitter-financial-news").resolve()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Split:
    path: Path
    sha256: str
    texts: list[str]
    labels: np.ndarray  # int64 ids

    def __len__(self) -> int:
        return len(self.texts)


def read_table(path: Path):
    """A polars DataFrame from .csv / .parquet / .jsonl / .ndjson / .json (lines)."""
    import polars as pl

    if not path.is_file():
        raise DataError(f"data file {path} does not exist (set --data-dir or ${DATA_ENV})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=0)  # all strings: labels may be ids or names
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
        if suffix in (".jsonl", ".ndjson", ".json"):
            return pl.read_ndjson(path)
    except Exception as exc:  # polars raises many kinds
        raise DataError(f"cannot read {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r} (use .csv, .parquet or .jsonl)")


def read_columns(path: Path, columns: tuple[str, ...]) -> dict[str, list]:
    """The named columns of a table, as lists. CSV is read with the standard library (the GPU
    machine's Python has no polars); other formats go through `read_table`."""
    if path.suffix.lower() == ".csv" and path.is_file():
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            rows = list(reader)
        have = header
        pick = {c: header.index(c) for c in columns if c in header}
        data = {c: [r[i] if i < len(r) else None for r in rows] for c, i in pick.items()}
    else:
        df = read_table(path)
        have = df.columns
        data = {c: df[c].to_list() for c in columns if c in df.columns}
    for col in columns:
        if col not in data:
            raise DataError(f"{path} has no column {col!r} (columns: {', '.join(have)}); see --text-col/--label-col")
    return data


def load_split(path: Path, labels: list[str], text_col: str = "text", label_col: str = "label") -> Split:
    """Read one split; labels may be integer ids or label names (case-insensitive)."""
    cols = read_columns(path, (text_col, label_col))
    by_name = {name.lower(): i for i, name in enumerate(labels)}
    ids = []
    for raw in cols[label_col]:
        s = str(raw).strip()
        if s.lstrip("-").isdigit():
            i = int(s)
        elif s.lower() in by_name:
            i = by_name[s.lower()]
        else:
            raise DataError(f"{path}: label {s!r} is neither an id nor one of {labels}")
        if not 0 <= i < len(labels):
            raise DataError(f"{path}: label id {i} outside 0..{len(labels) - 1}")
        ids.append(i)
    texts = [model_text(clean_text(str(t or ""))) for t in cols[text_col]]
    return Split(path=path, sha256=sha256_file(path), texts=texts, labels=np.asarray(ids, dtype=np.int64))


def load_tokenizer(folder: Path, max_length: int):
    """The folder's tokenizer.json with padding off and truncation at max_length.

    The MiniLM package ships padding/truncation at 128 switched on; left so, every tweet
    would cost 128 tokens.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def encode(tok, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tok.encode_batch(texts, add_special_tokens=True)]


def pad_id(tok) -> int:
    for t in ("[PAD]", "<pad>"):
        i = tok.token_to_id(t)
        if i is not None:
            return i
    return 0


def length_batches(lengths: list[int], batch_size: int, shuffle: bool, seed: int = 0) -> list[list[int]]:
    """Index batches of similar lengths; shuffled in chunks so epochs still differ."""
    idx = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(idx)
        chunk = batch_size * 50
        idx = [i for c in range(0, len(idx), chunk) for i in sorted(idx[c : c + chunk], key=lambda j: lengths[j])]
    else:
        idx.sort(key=lambda j: lengths[j])
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(seqs: list[list[int]], pad: int):
    """Torch tensors (input_ids, attention_mask) padded to the batch's longest row."""
    import torch

    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
