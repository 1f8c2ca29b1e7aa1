"""The classifier the pipeline calls: tweets in, Scored tweets out, every task per batch.

Each distinct model file runs once per batch and every task it answers is taken from its
outputs: a folder with a head per task (assets/models/finterm) costs one tokenization, one
engine run and one compile per shape for both tasks; two one-task folders cost two.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from finterm.errors import ModelError
from finterm.records import Scored, Tweet
from finterm.text import model_text

from . import status
from .backend import Backend, Outputs, Progress, backend_class, make_backend, resolve_engine
from .bridge import check_mode
from .model_folder import ModelFolder, TaskHead, resolve_model_dirs
from .shapes import DEFAULT_BUCKETS, ShapePlanner
from .tokenization import BatchTokenizer

#: Scores of this many recent distinct texts are kept: retweets and copied headlines are
#: scored once (the replay file holds 2,733 tweets but 2,241 distinct model texts).
DEFAULT_CACHE_SIZE = 4096


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class ModelRun:
    """One model file on the engine, and the tasks this classifier takes from its outputs."""

    folder: ModelFolder
    backend: Backend
    tokenizer: BatchTokenizer
    heads: tuple[TaskHead, ...]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(h.task for h in self.heads)

    def checked(self, head: TaskHead, outputs: Outputs) -> np.ndarray:
        """The head's output as float32 rows of one score per label, or a ModelError that says so."""
        logits = np.asarray(outputs[head.output], dtype=np.float32)
        n = len(head.labels)
        if logits.ndim != 2 or logits.shape[1] != n:
            raise ModelError(f"{head.task} model {self.folder.path}: model.onnx output {head.output!r} gives scores "
                             f"of shape {tuple(logits.shape)} but config.json names {n} labels")
        return logits


def load_models(sentiment_dir=None, topic_dir=None, model_dir=None) -> dict[str, ModelFolder]:
    """The folder of each task (resolved as `resolve_model_dirs` says), each loaded for its task;
    a folder that serves several tasks is read once."""
    loaded: dict[Path, ModelFolder] = {}
    out = {}
    for task, (path, shared) in resolve_model_dirs(sentiment_dir, topic_dir, model_dir).items():
        key = path.expanduser().resolve()
        folder = loaded.get(key)
        if folder is not None and folder.multi_task:
            folder.head(task)  # one line if the folder lacks this task
            folder = replace(folder, task=task)
        else:
            folder = loaded[key] = ModelFolder.load(path, task, shared=shared)
        out[task] = folder
    return out


class Classifier:
    """Scores sentiment and topic for batches of tweets with one engine kind for every model."""

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
        model_dir: str | Path | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._planner = ShapePlanner(batch_size, row_sizes)
        self.cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[str, tuple[np.ndarray, ...]] = OrderedDict()
        #: Distinct texts looked up / found in the cache (for benchmarks and the log).
        self.cache_lookups = 0
        self.cache_hits = 0
        self.engine_name = resolve_engine(engine)
        self._progress = on_progress
        #: The folder of each task, loaded for that task (its `labels` are the task's).
        self.models: dict[str, ModelFolder] = load_models(sentiment_dir, topic_dir, model_dir)
        files: dict[object, list[str]] = {}
        for task, folder in self.models.items():  # a multi-task file runs once for all its tasks
            key = folder.onnx_path.resolve() if folder.multi_task else task
            files.setdefault(key, []).append(task)
        if parallel is None:
            parallel = os.environ.get("FINTERM_PARALLEL_HEADS", "0").strip().lower() in ("1", "true", "yes")
        #: Two model files run at the same time, each on its share of the cores (else one after the other).
        self.parallel = bool(parallel)
        self._pool = None
        streams = len(files) if self.parallel and len(files) > 1 else 1
        if streams > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finterm-head")
        shared = backend_class(self.engine_name).shared_options(threads, streams, compile_jobs)
        tokenizers: dict[tuple, BatchTokenizer] = {}
        #: One entry per model file, in task order.
        self.runs: list[ModelRun] = []
        for tasks in files.values():
            folder = self.models[tasks[0]]
            key = (hashlib.sha1(folder.tokenizer_path.read_bytes()).hexdigest(), folder.max_length, tuple(buckets))
            if key not in tokenizers:
                tokenizers[key] = BatchTokenizer(folder.tokenizer_path, folder.max_length, tuple(buckets))
            backend = make_backend(self.engine_name, folder, progress=on_progress, shared=shared)
            heads = tuple(self.models[t].head(t) for t in tasks)
            self.runs.append(ModelRun(folder, backend, tokenizers[key], heads))

    @property
    def batch_size(self) -> int:
        return self._planner.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self._planner.batch_size = value

    @property
    def labels(self) -> dict[str, list[str]]:
        """Each task's labels in id order, as its model folder names them."""
        return {task: list(folder.labels) for task, folder in self.models.items()}

    def run_for(self, task: str) -> ModelRun:
        return next(r for r in self.runs if task in r.tasks)

    def backend_for(self, task: str) -> Backend:
        """The backend that scores `task` (shared by the tasks of one model file)."""
        return self.run_for(task).backend

    def describe(self) -> str:
        return status.describe(self)

    def describe_short(self) -> str:
        return status.status_line(self)

    def bridging_now(self) -> bool:
        """True while some model's batches go to ONNX Runtime because compiles are under way."""
        return any(r.backend.bridging_now() for r in self.runs)

    def bridged_share(self) -> tuple[int, int]:
        """(model batches run, of which ONNX Runtime scored while DeepSparse compiled), all model
        files. Summaries say it, so a rate is never misattributed."""
        return (sum(r.backend.batches for r in self.runs), sum(r.backend.bridged_batches for r in self.runs))

    def compile_seconds(self) -> dict[str, dict[tuple[int, int], float]]:
        """Seconds each compile took, per model file (keyed by its tasks, `+`-joined) and shape."""
        return {"+".join(r.tasks): dict(r.backend.compile_seconds) for r in self.runs}

    def warmup(self, lengths: tuple[int, ...] = (32,), rows: tuple[int, ...] | None = None,
               bridge: str = "always", tasks: tuple[str, ...] | None = None) -> None:
        """Get the common shapes ready so the first tweets are not slowed by compiling.

        ONNX Runtime: one run per shape. DeepSparse: the compiles go to a background thread, in
        the order given; until a shape is compiled, batches of that shape are scored by ONNX
        Runtime on the same model file or wait for it, as `bridge` says (bridge.py). `tasks`
        limits this call to the model files that score them (another call can warm the others
        with other lengths). Returns at once; `wait_ready()` waits.
        """
        check_mode(bridge)
        for run in self.runs:
            if tasks is not None and not set(run.tasks) & set(tasks):
                continue
            shapes = self._planner.warmup_shapes(run.folder, run.backend, lengths, rows)
            samples = [run.tokenizer.encode(["$SPY warm up"], seq_len=seq, rows=n) for n, seq in shapes]
            outputs = run.backend.warm_up(samples, bridge)
            if outputs is not None:
                for head in run.heads:
                    run.checked(head, outputs)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for background compiles (DeepSparse after warmup()); True when all are done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for run in self.runs:
            ok = run.backend.wait_ready(None if deadline is None else max(0.0, deadline - time.monotonic())) and ok
        return ok

    def _predict(self, run: ModelRun, seqs: list[list[int]]) -> dict[str, np.ndarray]:
        """Probabilities per task of the run, batched in length order to waste little padding."""
        plan, backend, folder = self._planner, run.backend, run.folder
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        probs = {h.task: np.empty((len(seqs), len(h.labels)), dtype=np.float32) for h in run.heads}
        step = plan.step(folder)
        for i in range(0, len(order), step):
            idx = order[i : i + step]
            batch = [seqs[j] for j in idx]
            seq_len = plan.seq_len(folder, backend, run.tokenizer.buckets, max(map(len, batch)))
            if plan.one_by_one(folder, backend, len(idx), seq_len):
                outs = [backend.run(run.tokenizer.pad([s], seq_len=seq_len, rows=1)) for s in batch]
                for h in run.heads:
                    probs[h.task][idx] = softmax(np.concatenate([run.checked(h, o)[:1] for o in outs]))
            else:
                enc = run.tokenizer.pad(batch, seq_len=seq_len, rows=plan.rows_for(folder, backend, len(idx), seq_len))
                out = backend.run(enc)
                for h in run.heads:
                    probs[h.task][idx] = softmax(run.checked(h, out)[: len(idx)])
        return probs

    def predict(self, texts: list[str], tasks: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Probabilities per task for model texts (already `model_text`), without the cache."""
        want = [t for t in self.models if tasks is None or t in tasks]
        if not texts:
            return {t: np.empty((0, len(self.models[t].labels)), dtype=np.float32) for t in want}
        runs = [r for r in self.runs if set(r.tasks) & set(want)]
        tokens: dict[int, list[list[int]]] = {}
        for r in runs:
            if id(r.tokenizer) not in tokens:
                tokens[id(r.tokenizer)] = r.tokenizer.tokenize(texts)
        out: dict[str, np.ndarray] = {}
        if self._pool is not None and len(runs) == 2:  # the second model file runs beside the first
            later = self._pool.submit(self._predict, runs[1], tokens[id(runs[1].tokenizer)])
            out.update(self._predict(runs[0], tokens[id(runs[0].tokenizer)]))
            out.update(later.result())
        else:
            for r in runs:
                out.update(self._predict(r, tokens[id(r.tokenizer)]))
        return {t: out[t] for t in want}

    def _cached_probs(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Probabilities per task for `texts`, scoring each distinct new text once."""
        tasks = list(self.models)
        cache = self._cache
        distinct = list(dict.fromkeys(texts))
        todo = [t for t in distinct if t not in cache]
        self.cache_lookups += len(distinct)
        self.cache_hits += len(distinct) - len(todo)
        fresh: dict[str, tuple[np.ndarray, ...]] = {}
        if todo:
            probs = self.predict(todo)
            fresh = {t: tuple(probs[task][k] for task in tasks) for k, t in enumerate(todo)}
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
        return {task: np.stack([r[i] for r in rows]) for i, task in enumerate(tasks)}

    def score(self, tweets: list[Tweet]) -> list[Scored]:
        """Score any number of tweets, returned in the order given.

        Handing over many tweets at once (replay at full speed) lets batches be formed from
        tweets of similar length; the latency reported is the whole call's.
        """
        if not tweets:
            return []
        texts = [model_text(t.text) for t in tweets]
        t0 = time.perf_counter()
        probs = self._cached_probs(texts)
        latency = (time.perf_counter() - t0) * 1000.0
        s_probs, t_probs = probs["sentiment"], probs["topic"]
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

