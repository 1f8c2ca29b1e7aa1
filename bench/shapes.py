"""DeepSparse per shape: compile time, memory and time per tweet for (batch × tokens) shapes.

    python bench/shapes.py [--model assets/models/sentiment] [--rows 1,4,16,64] [--seqs 24,32,48,64]
                           [--repeats 15] [--out bench/results/shapes.json]

What the engine's choice of row and sequence buckets rests on: every shape is a separate
DeepSparse compile (seconds, and memory), and a padded row or token costs as much as a real
one. Prints one line per shape: compile seconds, RSS growth, median ms per call and per tweet.
The inputs are real validation tweets cut or padded to the shape's length.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, log, machine, median, model_info, shipped_dir, valid_texts, write_json  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=shipped_dir("sentiment"))
    ap.add_argument("--task", default=None, help="validation file to take texts from (default: the folder's name)")
    ap.add_argument("--rows", default="1,4,16,64")
    ap.add_argument("--seqs", default="24,32,48,64")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "shapes.json")
    a = ap.parse_args(argv)
    from finterm.engine.deepsparse import DeepSparseBackend
    from finterm.engine.model_folder import ModelFolder
    from finterm.engine.tokenization import BatchTokenizer

    task = a.task or ("topic" if "topic" in a.model.name else "sentiment")
    model = ModelFolder.load(a.model)
    tok = BatchTokenizer(model.tokenizer_path, model.max_length, (model.max_length,))
    seqs = tok.tokenize(valid_texts(task, 256, seed=2))
    backend = DeepSparseBackend(model, threads=a.threads)
    rows_list = [int(x) for x in a.rows.split(",")]
    seq_list = [int(x) for x in a.seqs.split(",")]
    out = []
    base = rss_mb()
    for seq in seq_list:
        for rows in rows_list:
            before = rss_mb()
            t0 = time.perf_counter()
            backend.engine_for(rows, seq)
            compile_s = time.perf_counter() - t0
            grew = rss_mb() - before
            enc = tok.pad(seqs[:rows], seq_len=seq, rows=rows)
            backend.run(enc)
            times = []
            for _ in range(a.repeats):
                t1 = time.perf_counter()
                backend.run(enc)
                times.append((time.perf_counter() - t1) * 1000)
            ms = median(times)
            row = {"rows": rows, "seq": seq, "compile_s": compile_s, "rss_growth_mb": grew, "ms_per_call": ms,
                   "ms_per_tweet": ms / rows, "us_per_token": 1000 * ms / (rows * seq)}
            out.append(row)
            log(f"{rows:3d} x {seq:3d}: compile {compile_s:5.1f} s, +{grew:5.0f} MB, {ms:8.2f} ms/call, "
                f"{ms / rows:6.2f} ms/tweet, {row['us_per_token']:5.1f} us/token")
    data = {"machine": machine(), "model": model_info(a.model, task), "rss_start_mb": base, "rss_end_mb": rss_mb(),
            "command": "python bench/shapes.py " + shlex.join(argv if argv is not None else sys.argv[1:]), "shapes": out}
    write_json(a.out, data)
    print(f"{'rows':>4} {'seq':>4} {'compile s':>9} {'+MB':>5} {'ms/call':>8} {'ms/tweet':>8} {'us/token':>8}")
    for r in out:
        print(f"{r['rows']:4d} {r['seq']:4d} {r['compile_s']:9.1f} {r['rss_growth_mb']:5.0f} {r['ms_per_call']:8.2f} "
              f"{r['ms_per_tweet']:8.2f} {r['us_per_token']:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
