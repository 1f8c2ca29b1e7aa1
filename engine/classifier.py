"""The classifier the pipeline calls: tweets in, Scored tweets out, both models per batch."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .backends import BACKENDS, Progress, resolve_engine
from .model_folder import ModelFolder, default_model_dir
from .normalize import model_text
from .records import Scored, Tweet
from .tokenization import BatchTokenizer

DEFAULT_BUCKETS = (32, 64, 128)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def row_buckets(batch_size: int) -> tuple[int, ...]:
    """Batch sizes DeepSparse compiles for: a partial batch is padded to the next one."""
    sizes = {b for b in (1, 4, 16, 64) if b < batch_size} | {batch_size}
    return tuple(sorted(sizes))


@dataclass
class _Head:
    task: str
    model: ModelFolder
    backend: object
    tokenizer: BatchTokenizer


class Classifier:
    """Scores sentiment and topic for batches of tweets with one engine kind for both models."""

    def __init__(
        self,
        sentiment_dir: str | Path | None = None,
        topic_dir: str | Path | None = None,
        engine: str = "auto",
        batch_size: int = 16,
        buckets: tuple[int, ...] = DEFAULT_BUCKETS,
        threads: int = 0,
        on_progress: Progress | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.engine_name = resolve_engine(engine)
        self._progress = on_progress
        models = {
            "sentiment": ModelFolder.load(sentiment_dir or default_model_dir("sentiment"), "sentiment"),
            "topic": ModelFolder.load(topic_dir or default_model_dir("topic"), "topic"),
        }
        backend_cls = BACKENDS[self.engine_name]
        tokenizers: dict[tuple, BatchTokenizer] = {}
        self._heads: list[_Head] = []
        for task, model in models.items():
            key = (hashlib.sha1(model.tokenizer_path.read_bytes()).hexdigest(), model.max_length, tuple(buckets))
            if key not in tokenizers:
                tokenizers[key] = BatchTokenizer(model.tokenizer_path, model.max_length, tuple(buckets))
            backend = backend_cls(model, threads=threads, progress=on_progress)
            self._heads.append(_Head(task, model, backend, tokenizers[key]))
        self._rows = row_buckets(batch_size)

    @property
    def models(self) -> dict[str, ModelFolder]:
        return {h.task: h.model for h in self._heads}

    def describe(self) -> str:
        parts = [f"{h.task} {h.model.name} ({h.model.size_bytes / 1e6:.1f} MB)" for h in self._heads]
        return f"{self.engine_name} · " + " + ".join(parts)

    def _rows_for(self, head: _Head, n: int) -> int:
        if head.model.fixed_batch:
            return head.model.fixed_batch
        if self.engine_name == "deepsparse":
            return next(r for r in self._rows if r >= n)
        return n

    def warmup(self, lengths: tuple[int, ...] = (32,)) -> None:
        """Compile/run the common shapes now so the first tweets are not slowed by it."""
        sample = [Tweet(id="warmup", created_at=None, author="", text="$SPY warm up")]  # type: ignore[arg-type]
        for head in self._heads:
            for seq in lengths:
                for rows in {self._rows_for(head, 1), self._rows_for(head, self.batch_size)}:
                    enc = head.tokenizer.encode([t.text for t in sample], seq_len=head.model.fixed_seq or seq, rows=rows)
                    head.backend.run(enc)

    def _predict(self, head: _Head, seqs: list[list[int]]) -> np.ndarray:
        """Probabilities for token sequences, batched in length order to waste little padding."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        probs = np.empty((len(seqs), len(head.model.labels)), dtype=np.float32)
        step = head.model.fixed_batch or self.batch_size
        for i in range(0, len(order), step):
            idx = order[i : i + step]
            enc = head.tokenizer.pad([seqs[j] for j in idx], seq_len=head.model.fixed_seq,
                                     rows=self._rows_for(head, len(idx)))
            logits = np.asarray(head.backend.run(enc), dtype=np.float32)[: len(idx)]
            probs[idx] = softmax(logits)
        return probs

    def score(self, tweets: list[Tweet]) -> list[Scored]:
        """Score any number of tweets, returned in the order given.

        Handing over many tweets at once (replay at full speed) lets batches be formed from
        tweets of similar length; the latency reported is the whole call's.
        """
        if not tweets:
            return []
        texts = [model_text(t.text) for t in tweets]
        t0 = time.perf_counter()
        tokens: dict[int, list[list[int]]] = {}
        probs = {}
        for h in self._heads:
            if id(h.tokenizer) not in tokens:
                tokens[id(h.tokenizer)] = h.tokenizer.tokenize(texts)
            probs[h.task] = self._predict(h, tokens[id(h.tokenizer)])
        latency = (time.perf_counter() - t0) * 1000.0
        s_labels, t_labels = self.models["sentiment"].labels, self.models["topic"].labels
        s_probs, t_probs = probs["sentiment"], probs["topic"]
        s_idx, t_idx = s_probs.argmax(axis=1), t_probs.argmax(axis=1)
        return [
            Scored(
                tweet=tw,
                sentiment=s_labels[si], sentiment_score=float(s_probs[j, si]),
                topic=t_labels[ti], topic_score=float(t_probs[j, ti]),
                batch_latency_ms=latency,
                sentiment_probs=dict(zip(s_labels, s_probs[j].tolist())),
                topic_probs=dict(zip(t_labels, t_probs[j].tolist())),
            )
            for j, (tw, si, ti) in enumerate(zip(tweets, s_idx.tolist(), t_idx.tolist()))
        ]
