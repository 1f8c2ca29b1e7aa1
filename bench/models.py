"""Per-model speed: latency at batch 1, per-tweet throughput at batch 16 and 64, per engine.

    python bench/models.py [--n 384] [--n1 96] [--runs 3] [--out bench/results/models.json]

For each model (sentiment on sent_valid.csv, topic on topic_valid.csv: a seeded sample of
real validation tweets with their real lengths, prepared as the app prepares them) and each
of these, all in one run, interleaved run by run so drifting load hits every row alike:

  sparse-int8 · DeepSparse       the shipped model folder through finterm's engine
  sparse-int8 · ONNX Runtime     the same file through finterm's engine on ONNX Runtime
  dense fp32 · ONNX Runtime      the dense teacher exported to ONNX, finterm's engine
  dense fp32 · PyTorch (HF)      the dense teacher checkpoint in a transformers pipeline

Timed: tokenization + padding + engine + softmax, as in the app (finterm rows: tweets in
the given order, batched B at a time, length-sorted inside a call, padded to the shapes the
engine uses; HF rows: `pipeline(texts, batch_size=B)`, padded to each batch's longest).
Batch 1 = one call per tweet (median and p90 latency); batch B = calls of B tweets (tweets/s
over the sample). Each figure is the median over --runs runs, after an untimed pass that also
compiles every DeepSparse shape (compile times are reported apart). Ratios are to the
shipped model on DeepSparse. The score cache is off here (each text is distinct anyway).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RESULTS,
    TASKS,
    log,
    machine,
    median,
    model_info,
    percentile,
    shipped_dir,
    teacher_checkpoint,
    token_lengths,
    valid_texts,
    write_json,
)

CONFIGS = {
    "ds_sparse": "sparse-int8 · DeepSparse",
    "ort_sparse": "sparse-int8 · ONNX Runtime",
    "ort_dense": "dense fp32 · ONNX Runtime",
    "torch_dense": "dense fp32 · PyTorch (HF pipeline)",
}
BATCHES = (16, 64)


class FintermRunner:
    """finterm's Classifier on one engine, both models loaded as the app loads them."""

    def __init__(self, dirs: dict[str, Path], engine: str, threads: int = 0):
        from finterm.engine.classifier import Classifier

        self.clf = Classifier(dirs["sentiment"], dirs["topic"], engine=engine, batch_size=max(BATCHES),
                              row_sizes=(1, *BATCHES), cache_size=0, threads=threads)

    def run(self, task: str, texts: list[str], batch: int) -> None:
        self.clf.batch_size = batch
        self.clf.predict(texts, tasks=(task,))

    def compile_seconds(self, task: str) -> dict:
        seconds = self.clf.backend_for(task).compile_seconds
        return {f"{r}x{s}": round(v, 2) for (r, s), v in sorted(seconds.items())}


class HfRunner:
    """The dense teacher checkpoint in a Hugging Face text-classification pipeline on the CPU."""

    def __init__(self, ckpts: dict[str, Path], threads: int = 0):
        import torch
        from transformers import pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self.pipes = {task: pipeline("text-classification", model=str(p), tokenizer=str(p), device=-1)
                      for task, p in ckpts.items()}

    def run(self, task: str, texts: list[str], batch: int) -> None:
        pipe = self.pipes[task]
        if batch == 1:
            pipe(texts[0])
        else:
            pipe(texts, batch_size=batch)

    def compile_seconds(self, task: str) -> dict:
        return {}


def measure(runner, task: str, texts: list[str], texts_b1: list[str]) -> dict:
    lat = []
    for t in texts_b1:
        t0 = time.perf_counter()
        runner.run(task, [t], 1)
        lat.append((time.perf_counter() - t0) * 1000)
    out = {"b1_ms_median": median(lat), "b1_ms_p90": percentile(lat, 0.9),
           "b1_tps": 1000 * len(lat) / sum(lat)}
    for b in BATCHES:
        t0 = time.perf_counter()
        for i in range(0, len(texts), b):
            runner.run(task, texts[i:i + b], b)
        out[f"b{b}_tps"] = len(texts) / (time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=384, help="tweets per model for the batch 16/64 rows (default 384)")
    ap.add_argument("--n1", type=int, default=96, help="tweets per model for batch-1 latency (default 96)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: the engine's default, all cores)")
    for task in TASKS:
        ap.add_argument(f"--{task}", type=Path, default=shipped_dir(task), help=f"{task} model folder (default shipped)")
        ap.add_argument(f"--{task}-teacher", type=Path, default=teacher_checkpoint(task),
                        help=f"dense {task} checkpoint for PyTorch (default runs/{task}/teacher)")
        ap.add_argument(f"--{task}-teacher-onnx", type=Path, default=None,
                        help=f"dense {task} ONNX model folder (default: exported from the checkpoint by teacher_onnx.py)")
    ap.add_argument("--out", type=Path, default=RESULTS / "models.json")
    a = ap.parse_args(argv)
    configs = [c for c in a.configs.split(",") if c]
    shipped = {t: getattr(a, t) for t in TASKS}
    ckpt = {t: getattr(a, f"{t}_teacher") for t in TASKS}
    dense = {t: getattr(a, f"{t}_teacher_onnx") for t in TASKS}
    if "ort_dense" in configs:
        from teacher_onnx import export

        dense = {t: dense[t] or export(t, ckpt[t]) for t in TASKS}

    info = machine()
    texts = {t: valid_texts(t, a.n, seed=0) for t in TASKS}
    texts_b1 = {t: texts[t][: a.n1] for t in TASKS}
    lengths = {}
    for t in TASKS:
        sample = token_lengths(shipped[t] / "tokenizer.json", texts[t])
        full = token_lengths(shipped[t] / "tokenizer.json", valid_texts(t))
        lengths[t] = {"sample_n": len(sample), "sample_mean": sum(sample) / len(sample), "file_n": len(full),
                      "file_mean": sum(full) / len(full), "file_p90": percentile(full, 0.9), "file_max": max(full)}

    runners, prep, compile_s, models = {}, {}, {}, {}
    for c in configs:
        t0 = time.perf_counter()
        if c == "ds_sparse":
            runners[c] = FintermRunner(shipped, "deepsparse", a.threads)
            models[c] = {t: model_info(shipped[t], t) for t in TASKS}
        elif c == "ort_sparse":
            runners[c] = FintermRunner(shipped, "onnxruntime", a.threads)
            models[c] = {t: model_info(shipped[t], t) for t in TASKS}
        elif c == "ort_dense":
            runners[c] = FintermRunner(dense, "onnxruntime", a.threads)
            models[c] = {t: model_info(dense[t], t) for t in TASKS}
        elif c == "torch_dense":
            runners[c] = HfRunner(ckpt, a.threads)
            models[c] = {t: {"path": str(ckpt[t]), "name": f"{ckpt[t].parent.name} teacher checkpoint"} for t in TASKS}
        else:
            raise SystemExit(f"unknown config {c}")
        load_s = time.perf_counter() - t0
        for t in TASKS:  # untimed pass: first runs, DeepSparse compiles every shape it will use
            t1 = time.perf_counter()
            measure(runners[c], t, texts[t], texts_b1[t])
            prep[(c, t)] = time.perf_counter() - t1
            compile_s[(c, t)] = runners[c].compile_seconds(t)
        log(f"{CONFIGS[c]}: loaded in {load_s:.1f} s, first pass {prep[(c, TASKS[0])]:.1f} + {prep[(c, TASKS[1])]:.1f} s")

    raw: dict = {t: {c: [] for c in configs} for t in TASKS}
    for r in range(a.runs):
        for c in configs:
            for t in TASKS:
                raw[t][c].append(measure(runners[c], t, texts[t], texts_b1[t]))
        log(f"run {r + 1}/{a.runs} done")

    keys = ("b1_ms_median", "b1_ms_p90", "b1_tps", *(f"b{b}_tps" for b in BATCHES))
    results = {t: {c: {k: median([m[k] for m in raw[t][c]]) for k in keys} for c in configs} for t in TASKS}
    data = {
        "machine": info,
        "settings": {"n": a.n, "n1": a.n1, "runs": a.runs, "threads": a.threads, "batches": [1, *BATCHES],
                     "command": "python bench/models.py " + shlex.join(argv if argv is not None else sys.argv[1:])},
        "configs": {c: CONFIGS[c] for c in configs},
        "models": models,
        "tokens": lengths,
        "compile_seconds": {f"{c}/{t}": v for (c, t), v in compile_s.items() if v},
        "results": results,
        "raw": raw,
    }
    write_json(a.out, data)
    print(table(data))
    return 0


def table(data: dict) -> str:
    configs = data["configs"]
    lines = []
    for t in TASKS:
        res = data["results"][t]
        ref = res.get("ds_sparse")
        tok = data["tokens"][t]
        lines += [f"\n{t}: {tok['sample_n']} validation tweets, mean {tok['sample_mean']:.1f} tokens "
                  f"(whole file {tok['file_mean']:.1f}); medians of {data['settings']['runs']} runs",
                  f"{'engine':36} {'b1 ms':>7} {'p90':>7} {'b16 tw/s':>9} {'b64 tw/s':>9}   ratios to shipped (b1 / b16 / b64)"]
        for c, label in configs.items():
            r = res[c]
            ratio = ""
            if ref:
                ratio = (f"{r['b1_ms_median'] / ref['b1_ms_median']:.2f}x / {ref['b16_tps'] / r['b16_tps']:.2f}x / "
                         f"{ref['b64_tps'] / r['b64_tps']:.2f}x slower")
            lines.append(f"{label:36} {r['b1_ms_median']:7.2f} {r['b1_ms_p90']:7.2f} {r['b16_tps']:9.1f} "
                         f"{r['b64_tps']:9.1f}   {ratio}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
