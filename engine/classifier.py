"""The classifier the pipeline calls: tweets in, Scored tweets out, both models per batch."""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finterm.errors import ModelError
from finterm.records import Scored, Tweet
from finterm.text import model_text

from .backends import BACKENDS, CompileGate, Progress, deepsparse_context, resolve_engine
from .model_folder import ModelFolder, default_model_dir
from .tokenization import BatchTokenizer, choose_length

DEFAULT_BUCKETS = (32, 64, 128)
#: Scores of this many recent distinct texts are kept: retweets and copied headlines are
#: scored once (the replay file holds 2,733 tweets but 2,241 distinct model texts).
DEFAULT_CACHE_SIZE = 4096
#: Up to this share of a full batch, tweets run one by one on DeepSparse's 1-row engine.
ONE_BY_ONE_SHARE = 0.6


def _checked(head, logits) -> np.ndarray:
    """The engine's output as float32 rows of one score per label, or a ModelError that says so."""
    logits = np.asarray(logits, dtype=np.float32)
    n = len(head.model.labels)
    if logits.ndim != 2 or logits.shape[1] != n:
        raise ModelError(f"{head.task} model {head.model.path}: model.onnx gives scores of shape "
                         f"{tuple(logits.shape)} but config.json names {n} labels")
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def row_buckets(batch_size: int) -> tuple[int, ...]:
    """Batch sizes DeepSparse compiles for: one tweet alone, else a batch padded to the full size.

    Every shape costs a compile of 1-2 s on one core and ~70-100 MB: with 1/4/16 rows x 3
    lengths x 2 models, a 2,733-tweet replay spent most of its run compiling (bench/e2e.py:
    112 tweets/s end to end; BENCHMARKS.md). A few tweets run one by one on the 1-row engine
    instead (`_one_by_one`); a shape fewer per length saves seconds.
    """
    return (1, batch_size) if batch_size > 1 else (1,)


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
        cache_size: int = DEFAULT_CACHE_SIZE,
        row_sizes: tuple[int, ...] | None = None,
        parallel: bool | None = None,
        compile_jobs: int = 1,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        #: Distinct texts looked up / found in the cache (for benchmarks and the log).
        self.cache_lookups = 0
        self.cache_hits = 0
        self.engine_name = resolve_engine(engine)
        self._progress = on_progress
        models = {
            "sentiment": ModelFolder.load(sentiment_dir or default_model_dir("sentiment"), "sentiment"),
            "topic": ModelFolder.load(topic_dir or default_model_dir("topic"), "topic"),
        }
        backend_cls = BACKENDS[self.engine_name]
        if parallel is None:
            parallel = os.environ.get("FINTERM_PARALLEL_HEADS", "0").strip().lower() in ("1", "true", "yes")
        #: Both models run at the same time, each on its share of the cores (else one after the other).
        self.parallel = bool(parallel)
        self._pool = None
        extra: dict = {}
        if self.engine_name == "deepsparse":
            # Compiles run on one core each (and release the GIL): batch scoring, which waits
            # for them anyway, runs one per core; live scoring keeps a core free for tweets.
            extra["compile_gate"] = CompileGate(compile_jobs)
        head_threads = threads
        if self.parallel:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finterm-head")
            if self.engine_name == "deepsparse":
                extra["context"] = deepsparse_context(threads or None, num_streams=len(models))
            else:
                head_threads = max(1, (threads or os.cpu_count() or 2) // len(models))
        tokenizers: dict[tuple, BatchTokenizer] = {}
        self._heads: list[_Head] = []
        for task, model in models.items():
            key = (hashlib.sha1(model.tokenizer_path.read_bytes()).hexdigest(), model.max_length, tuple(buckets))
            if key not in tokenizers:
                tokenizers[key] = BatchTokenizer(model.tokenizer_path, model.max_length, tuple(buckets))
            backend = backend_cls(model, threads=head_threads, progress=on_progress, **extra)
            self._heads.append(_Head(task, model, backend, tokenizers[key]))
        #: Row counts DeepSparse compiles for (a partial batch is padded up to the next one).
        self._rows = tuple(sorted(set(row_sizes))) if row_sizes else row_buckets(batch_size)
        if self._rows[-1] < batch_size:
            self._rows = (*self._rows, batch_size)

    @property
    def models(self) -> dict[str, ModelFolder]:
        return {h.task: h.model for h in self._heads}

    def describe(self) -> str:
        parts = [f"{h.task} {h.model.name} ({h.model.size_bytes / 1e6:.1f} MB)" for h in self._heads]
        return f"{self.engine_name} · " + " + ".join(parts)

    def bridged_share(self) -> tuple[int, int]:
        """(batches run, of which ONNX Runtime scored while DeepSparse compiled), all models;
        (n, 0) on ONNX Runtime alone. Summaries say it, so a rate is never misattributed."""
        total = bridged = 0
        for h in self._heads:
            total += getattr(h.backend, "batches", 0)
            bridged += getattr(h.backend, "bridged_batches", 0)
        return total, bridged

    def compile_seconds(self) -> dict[str, dict[tuple[int, int], float]]:
        """Seconds each DeepSparse compile took, per model and (rows, tokens) shape (benchmarks)."""
        return {h.task: dict(getattr(h.backend, "compile_seconds", {})) for h in self._heads}

    def describe_short(self) -> str:
        """The engine and each model's name without the `finterm-<task>-` prefix (status bars)."""
        def short(h: _Head) -> str:
            name = h.model.name
            for prefix in ("finterm-", f"{h.task}-"):
                name = name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name
            return name

        names = [short(h) for h in self._heads]
        engine = self.engine_name
        if engine == "deepsparse" and any(h.backend.bridging_now() for h in self._heads):
            engine = "deepsparse compiling (onnxruntime meanwhile)"  # who scores the tweets on screen
        if len(set(names)) == 1:  # the shipped pair: one name says it
            return f"{engine} · {'+'.join(h.task for h in self._heads)} {names[0]}"
        return f"{engine} · " + " · ".join(f"{h.task} {n}" for h, n in zip(self._heads, names))

    def _rows_for(self, head: _Head, n: int, seq: int | None = None) -> int:
        if head.model.fixed_batch:
            return head.model.fixed_batch
        if self.engine_name == "deepsparse":
            fits = [r for r in self._rows if r >= n]
            if seq is not None:  # a shape compiled already beats a smaller one still to compile
                ready = set(head.backend.compiled_shapes())
                for r in fits:
                    if (r, seq) in ready:
                        return r
                if getattr(head.backend, "background", False):
                    # compiling in the background: ask for the full batch (queued by warmup),
                    # not a new 1-row shape that would jump the queue and delay it
                    return fits[-1]
            return fits[0]
        return n

    def _one_by_one(self, head: _Head, n: int, seq: int) -> bool:
        """On DeepSparse, a few tweets run one at a time rather than padded to a full batch:
        a 1-row call costs ~1.4 ms a tweet, a 16-row batch ~17 ms whatever it holds (BENCHMARKS.md)."""
        if self.engine_name != "deepsparse" or head.model.fixed_batch or n < 2 or n > ONE_BY_ONE_SHARE * self.batch_size:
            return False
        return (1, seq) in head.backend.compiled_shapes() and not head.backend.bridging_now()

    def warmup(self, lengths: tuple[int, ...] = (32,), rows: tuple[int, ...] | None = None,
               bridge: str = "always", tasks: tuple[str, ...] | None = None) -> None:
        """Get the common shapes ready so the first tweets are not slowed by compiling.

        ONNX Runtime: one run per shape. DeepSparse: the compiles go to a background thread,
        in the order given; until a shape is compiled, batches of that shape are scored by ONNX
        Runtime on the same model file or wait for it, as `bridge` says
        (`DeepSparseBackend.compile_in_background`). `tasks` limits this call to those models
        (another call can warm the others with other lengths). Returns at once; `wait_ready()`
        waits.
        """
        sample = [Tweet(id="warmup", created_at=None, author="", text="$SPY warm up")]  # type: ignore[arg-type]
        want = rows or (self.batch_size, 1)  # full batches first: a replay or a burst needs them first
        for head in self._heads:
            if tasks is not None and head.task not in tasks:
                continue
            seqs = dict.fromkeys(head.model.fixed_seq or min(seq, head.model.max_length) for seq in lengths)
            shapes = [(r, seq) for r in dict.fromkeys(self._rows_for(head, n) for n in want) for seq in seqs]
            if self.engine_name == "deepsparse":
                head.backend.compile_in_background(shapes, bridge=bridge)
                if bridge != "never":  # ONNX Runtime's first run allocates: do it now
                    for n, seq in shapes[:1]:
                        _checked(head, head.backend.ort().run(head.tokenizer.encode([t.text for t in sample], seq_len=seq, rows=n)))
                continue
            for n, seq in shapes:
                enc = head.tokenizer.encode([t.text for t in sample], seq_len=seq, rows=n)
                _checked(head, head.backend.run(enc))

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for background compiles (DeepSparse after warmup()); True when all are done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for head in self._heads:
            wait = getattr(head.backend, "wait_compiled", None)
            if wait is not None:
                ok = wait(None if deadline is None else max(0.0, deadline - time.monotonic())) and ok
        return ok

    def _predict(self, head: _Head, seqs: list[list[int]]) -> np.ndarray:
        """Probabilities for token sequences, batched in length order to waste little padding."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        probs = np.empty((len(seqs), len(head.model.labels)), dtype=np.float32)
        step = head.model.fixed_batch or self.batch_size
        exact = self.engine_name == "onnxruntime"  # any shape runs: pad to the longest, not a bucket
        for i in range(0, len(order), step):
            idx = order[i : i + step]
            batch = [seqs[j] for j in idx]
            longest = max(map(len, batch))
            seq_len = head.model.fixed_seq or (min(longest, head.model.max_length) if exact else
                                               choose_length(longest, head.tokenizer.buckets, head.model.max_length))
            if self._one_by_one(head, len(idx), seq_len):
                logits = np.concatenate([_checked(head, head.backend.run(head.tokenizer.pad([s], seq_len=seq_len, rows=1)))[:1]
                                         for s in batch])
            else:
                enc = head.tokenizer.pad(batch, seq_len=seq_len, rows=self._rows_for(head, len(idx), seq_len))
                logits = _checked(head, head.backend.run(enc))[: len(idx)]
            probs[idx] = softmax(logits)
        return probs

    def predict(self, texts: list[str], tasks: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Probabilities per task for model texts (already `model_text`), without the cache."""
        heads = [h for h in self._heads if tasks is None or h.task in tasks]
        if not texts:
            return {h.task: np.empty((0, len(h.model.labels)), dtype=np.float32) for h in heads}
        tokens: dict[int, list[list[int]]] = {}
        for h in heads:
            if id(h.tokenizer) not in tokens:
                tokens[id(h.tokenizer)] = h.tokenizer.tokenize(texts)
        if self._pool is not None and len(heads) == 2:  # the second model runs beside the first
            later = self._pool.submit(self._predict, heads[1], tokens[id(heads[1].tokenizer)])
            first = self._predict(heads[0], tokens[id(heads[0].tokenizer)])
            return {heads[0].task: first, heads[1].task: later.result()}
        return {h.task: self._predict(h, tokens[id(h.tokenizer)]) for h in heads}

    def _cached_probs(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Sentiment and topic probabilities for `texts`, scoring each distinct new text once."""
        cache = self._cache
        distinct = list(dict.fromkeys(texts))
        todo = [t for t in distinct if t not in cache]
        self.cache_lookups += len(distinct)
        self.cache_hits += len(distinct) - len(todo)
        fresh: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if todo:
            probs = self.predict(todo)
            s_new, t_new = probs["sentiment"], probs["topic"]
            fresh = {t: (s_new[k], t_new[k]) for k, t in enumerate(todo)}
        rows = []
        for t in texts:
            r = fresh.get(t)
            if r is None:
                r = cache[t]
                cache.move_to_end(t)
            rows.append(r)
        if self.cache_size:
            for t, r in fresh.items():
                cache[t] = r
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])

    def score(self, tweets: list[Tweet]) -> list[Scored]:
        """Score any number of tweets, returned in the order given.

        Handing over many tweets at once (replay at full speed) lets batches be formed from
        tweets of similar length; the latency reported is the whole call's.
        """
        if not tweets:
            return []
        texts = [model_text(t.text) for t in tweets]
        t0 = time.perf_counter()
        s_probs, t_probs = self._cached_probs(texts)
        latency = (time.perf_counter() - t0) * 1000.0
        s_labels, t_labels = self.models["sentiment"].labels, self.models["topic"].labels
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
