"""Which (rows, tokens) shape each batch runs at.

An engine with `fixed_shapes` (DeepSparse) compiles every shape, and a compile costs 1-2 s
on one core and 70-100 MB: batches are padded to a few row counts and to the token buckets.
Other engines run the batch as it is, padded only to its longest tweet.
"""

from __future__ import annotations

from .backend import Backend, Shape
from .model_folder import ModelFolder
from .tokenization import choose_length

DEFAULT_BUCKETS = (32, 64, 128)
#: Up to this share of a full batch, tweets run one by one on the 1-row engine.
ONE_BY_ONE_SHARE = 0.6


def row_buckets(batch_size: int) -> tuple[int, ...]:
    """Row counts to compile: one tweet alone, else a batch padded to the full size.

    Each row count is one more compile per length and model, and on a replay the compiles of a
    middle size (4 rows) cost more than its padding saved (bench/e2e.py; BENCHMARKS.md). A
    few tweets run one by one on the 1-row engine instead (`ShapePlanner.one_by_one`).
    """
    return (1, batch_size) if batch_size > 1 else (1,)


class ShapePlanner:
    """Rows and tokens for each batch of one classifier (`batch_size` may change between calls)."""

    def __init__(self, batch_size: int, row_sizes: tuple[int, ...] | None = None):
        self.batch_size = batch_size
        #: Row counts compiled for (a partial batch is padded up to the next one).
        self.rows = tuple(sorted(set(row_sizes))) if row_sizes else row_buckets(batch_size)
        if self.rows[-1] < batch_size:
            self.rows = (*self.rows, batch_size)

    def step(self, model: ModelFolder) -> int:
        """Tweets per batch."""
        return model.fixed_batch or self.batch_size

    def seq_len(self, model: ModelFolder, backend: Backend, buckets: tuple[int, ...], longest: int) -> int:
        """Tokens to pad a batch whose longest tweet has `longest` tokens to."""
        if model.fixed_seq:
            return model.fixed_seq
        if backend.fixed_shapes:
            return choose_length(longest, buckets, model.max_length)
        return min(longest, model.max_length)

    def rows_for(self, model: ModelFolder, backend: Backend, n: int, seq: int | None = None) -> int:
        """Rows to pad a batch of `n` tweets to (`seq`: its length, when known)."""
        if model.fixed_batch:
            return model.fixed_batch
        if not backend.fixed_shapes:
            return n
        fits = [r for r in self.rows if r >= n]
        if seq is not None:  # a shape compiled already beats a smaller one still to compile
            ready = set(backend.compiled_shapes())
            for r in fits:
                if (r, seq) in ready:
                    return r
            if backend.background:
                # compiling in the background: ask for the full batch (queued by warm-up), not
                # a new 1-row shape that would jump the queue and delay it
                return fits[-1]
        return fits[0]

    def one_by_one(self, model: ModelFolder, backend: Backend, n: int, seq: int) -> bool:
        """A few tweets run one at a time rather than padded to a full batch: on DeepSparse a
        1-row call costs ~1.4 ms a tweet, a 16-row batch ~17 ms whatever it holds (BENCHMARKS.md)."""
        if not backend.fixed_shapes or model.fixed_batch or n < 2 or n > ONE_BY_ONE_SHARE * self.batch_size:
            return False
        return (1, seq) in backend.compiled_shapes() and not backend.bridging_now()

    def warmup_shapes(self, model: ModelFolder, backend: Backend, lengths: tuple[int, ...],
                      rows: tuple[int, ...] | None = None) -> list[Shape]:
        """The shapes to get ready for `lengths`, in order: full batches first by default (a
        replay or a burst needs them first), then single tweets."""
        want = rows or (self.batch_size, 1)
        seqs = dict.fromkeys(model.fixed_seq or min(seq, model.max_length) for seq in lengths)
        return [(r, seq) for r in dict.fromkeys(self.rows_for(model, backend, n) for n in want) for seq in seqs]
