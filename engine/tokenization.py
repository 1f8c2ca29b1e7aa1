"""Tokenize tweets with the model folder's tokenizer.json and pad each batch to a bucket.

Tweets are short (20-45 tokens), so a batch is padded only to the smallest bucket that
holds its longest tweet, not to the model's 128 or 512.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from finterm.errors import ModelError


@dataclass(frozen=True)
class Encoded:
    """A padded batch: arrays of shape (rows, seq_len); `n` real rows (the rest is padding)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    n: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.input_ids.shape  # type: ignore[return-value]

    def feeds(self, names: tuple[str, ...], dtypes: dict | None = None) -> dict[str, np.ndarray]:
        """Arrays by input name, cast where the graph wants another integer type than int64."""
        out = {}
        for name in names:
            a = getattr(self, name)
            want = (dtypes or {}).get(name, "int64")
            out[name] = a if a.dtype == want else a.astype(want)
        return out


def choose_length(longest: int, buckets: tuple[int, ...], max_length: int) -> int:
    """The smallest bucket that holds `longest` tokens, capped at the model's limit."""
    for b in sorted(buckets):
        if b >= longest:
            return min(b, max_length)
    return min(max(buckets), max_length)


class BatchTokenizer:
    """Wraps a `tokenizers.Tokenizer`: no padding inside it, truncation at the model's limit."""

    def __init__(self, tokenizer_path, max_length: int, buckets: tuple[int, ...]):
        try:
            tok = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelError(f"{tokenizer_path} is not a tokenizers JSON file ({exc})") from None
        tok.no_padding()
        tok.enable_truncation(max_length=max_length)
        self._tok = tok
        self.max_length = max_length
        self.buckets = tuple(sorted(b for b in buckets if b <= max_length)) or (max_length,)
        self.pad_id = tok.token_to_id("[PAD]") or tok.token_to_id("<pad>") or 0

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (special tokens added, truncated at the model's limit)."""
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=True)]

    def pad(self, seqs: list[list[int]], seq_len: int | None = None, rows: int | None = None) -> Encoded:
        """Pad to `seq_len` (default: the bucket of the longest) and `rows` (default: len(seqs))."""
        longest = max((len(s) for s in seqs), default=1)
        length = seq_len or choose_length(longest, self.buckets, self.max_length)
        rows = max(rows or len(seqs), len(seqs))
        ids = np.full((rows, length), self.pad_id, dtype=np.int64)
        mask = np.zeros((rows, length), dtype=np.int64)
        types = np.zeros((rows, length), dtype=np.int64)
        for i, seq in enumerate(seqs):
            if len(seq) > length:  # keep the closing special token when cutting to a bucket
                seq = seq[: length - 1] + seq[-1:]
            ids[i, : len(seq)] = seq
            mask[i, : len(seq)] = 1
        mask[len(seqs):, 0] = 1  # padding rows attend to one token so softmax stays finite
        return Encoded(ids, mask, types, len(seqs))

    def encode(self, texts: list[str], seq_len: int | None = None, rows: int | None = None) -> Encoded:
        """Tokenize and pad in one step."""
        return self.pad(self.tokenize(texts), seq_len, rows)
