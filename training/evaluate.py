"""Score a model folder through the runtime engines (DeepSparse, ONNX Runtime).

Uses the engine's own ModelFolder / BatchTokenizer / backends, so what is measured is what
`finterm` runs: rows sorted by length, padded to the 32/64/128 bucket and, for DeepSparse,
to a fixed batch of 64 rows (it compiles one engine per shape).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .common import log, progress

BUCKETS = (32, 64, 128)
EVAL_BATCH = 64


def available_engines() -> list[str]:
    from finterm.engine.deepsparse_import import deepsparse_unavailable_reason

    return ["onnxruntime"] if deepsparse_unavailable_reason() else ["deepsparse", "onnxruntime"]


def choose_engines(choice: str) -> list[str]:
    """`both` (every engine that runs here) or one engine, refused in one line when it cannot run."""
    from .common import TrainError

    have = available_engines()
    if choice == "both":
        return have
    if choice not in have:
        raise TrainError(f"{choice} cannot run here (available: {', '.join(have)})")
    return [choice]


def engine_outputs(folder: Path, texts: list[list[str]], engine: str, batch: int = EVAL_BATCH,
                   threads: int = 0) -> tuple[list[dict[str, np.ndarray]], float]:
    """Every graph output (by name) for each list of texts (already model_text-prepared) through
    `engine`, one backend for all of them (DeepSparse compiles each shape once); and seconds spent running."""
    from finterm.engine.backend import make_backend
    from finterm.engine.model_folder import ModelFolder
    from finterm.engine.tokenization import BatchTokenizer

    model = ModelFolder.load(folder)
    tok = BatchTokenizer(model.tokenizer_path, model.max_length, BUCKETS)
    backend = make_backend(engine, model, threads=threads, progress=log)
    step = model.fixed_batch or batch
    run_secs = 0.0
    results = []
    for part in texts:
        seqs = tok.tokenize(part)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out: dict[str, np.ndarray] = {}
        for i in progress(range(0, len(order), step), f"eval {engine}"):
            idx = order[i : i + step]
            rows = step if (engine == "deepsparse" or model.fixed_batch) else len(idx)
            enc = tok.pad([seqs[j] for j in idx], seq_len=model.fixed_seq, rows=rows)
            if engine == "deepsparse":
                backend.engine_for(*enc.shape)  # compile outside the timed region
            t0 = time.perf_counter()
            got = backend.run(enc)
            run_secs += time.perf_counter() - t0
            for name, value in got.items():
                value = np.asarray(value, dtype=np.float32)
                if name not in out:
                    out[name] = np.zeros((len(seqs), *value.shape[1:]), dtype=np.float32)
                out[name][idx] = value[: len(idx)]
        results.append(out)
    return results, run_secs


def engine_logits(folder: Path, texts: list[str], engine: str, batch: int = EVAL_BATCH, threads: int = 0,
                  task: str = "model") -> tuple[np.ndarray, float]:
    """Logits of `task`'s head (a one-task folder's only output) for texts through `engine`;
    and seconds spent running."""
    from finterm.engine.model_folder import ModelFolder

    output = ModelFolder.load(folder, task).output
    (outs,), secs = engine_outputs(folder, [texts], engine, batch, threads)
    if not texts:
        return np.zeros((0, len(ModelFolder.load(folder, task).labels)), dtype=np.float32), secs
    return outs[output], secs


def metrics(pred: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."""
    k = len(names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    per = {}
    f1s = []
    for i, n in enumerate(names):
        tp = cm[i, i]
        p = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        r = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per[n] = {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(cm[i, :].sum())}
        f1s.append(f)
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(np.mean(f1s)),
        "per_class": per,
        "confusion": cm.tolist(),
        "n": int(len(labels)),
        "majority_baseline": float(np.bincount(labels, minlength=k).max() / len(labels)),
    }


def evaluate_folder(folder: Path, texts: list[str], labels: np.ndarray, engines: list[str] | None = None) -> dict:
    """Metrics per engine on the given split, plus throughput of the eval pass itself."""
    from finterm.engine.model_folder import ModelFolder

    names = ModelFolder.load(folder).labels
    results = {}
    for eng in engines or available_engines():
        logits, secs = engine_logits(folder, texts, eng)
        m = metrics(logits.argmax(1), labels, names)
        m["tweets_per_second"] = len(texts) / secs if secs else None
        results[eng] = m
        log(f"{folder.name} via {eng}: accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} "
            f"({m['tweets_per_second']:.0f} tweets/s)")
    return results
