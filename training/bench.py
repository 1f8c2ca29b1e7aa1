"""Latency and throughput of a model folder through each runtime engine.

Batch 1 and batch 16 at fixed lengths (32 and 64 tokens: most tweets fit 32-64), median of
repeated runs after warm-up. Numbers are for this machine under its current load.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .common import log
from .evaluate import available_engines

SHAPES = ((1, 32), (1, 64), (16, 32), (16, 64))


def bench_folder(folder: Path, engines: list[str] | None = None, repeats: int = 20, threads: int = 0) -> dict:
    """{engine: {"b1x64": {...ms}, ...}} with median/p90 batch latency and per-tweet cost."""
    from finterm.engine.backend import make_backend
    from finterm.engine.model_folder import ModelFolder
    from finterm.engine.tokenization import BatchTokenizer

    model = ModelFolder.load(folder)
    tok = BatchTokenizer(model.tokenizer_path, model.max_length, (32, 64, 128))
    text = "$AAPL shares rise after the company beats estimates; analysts lift targets ahead of the Fed meeting"
    out: dict = {}
    for eng in engines or available_engines():
        backend = make_backend(eng, model, threads=threads, progress=log)
        res = {}
        for rows, seq in SHAPES:
            if seq > model.max_length:
                continue
            enc = tok.encode([text] * rows, seq_len=seq, rows=rows)
            for _ in range(3):
                backend.run(enc)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                backend.run(enc)
                times.append((time.perf_counter() - t0) * 1000)
            med = float(np.median(times))
            res[f"b{rows}x{seq}"] = {"batch": rows, "tokens": seq, "median_ms": med,
                                     "p90_ms": float(np.percentile(times, 90)),
                                     "ms_per_tweet": med / rows, "tweets_per_second": 1000 * rows / med}
            log(f"{folder.name} {eng} batch {rows} x {seq}: {med:.2f} ms ({1000 * rows / med:.0f} tweets/s)")
        out[eng] = res
    return out
