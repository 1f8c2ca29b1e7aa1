"""The benchmark figure: latency and throughput per engine, from bench/results/*.json.

    python bench/plot.py [--models bench/results/models.json] [--e2e bench/results/e2e.json]
                         [--out bench/benchmarks.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, TASKS, read_json  # noqa: E402

COLORS = {"ds_sparse": "#2a9d8f", "ort_sparse": "#8ab17d", "ort_dense": "#e9c46a", "torch_dense": "#e76f51"}


def plot(models: dict, e2e: dict | None, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = models["configs"]
    ncols = 3 if e2e and e2e.get("replay") else 2
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.9), dpi=80)
    width = 0.8 / len(configs)
    for ax, (metric, title, unit) in zip(axes[:2], (("b1_ms_median", "Latency, batch 1 (median)", "ms per tweet, lower is better"),
                                                     ("b64_tps", "Throughput, batch 64", "tweets/s, higher is better"))):
        for i, (c, label) in enumerate(configs.items()):
            vals = [models["results"][t][c][metric] for t in TASKS]
            xs = [k + (i - (len(configs) - 1) / 2) * width for k in range(len(TASKS))]
            bars = ax.bar(xs, vals, width, label=label, color=COLORS.get(c))
            ax.bar_label(bars, fmt="%.0f" if max(vals) >= 100 else "%.1f", fontsize=6, padding=1)
        ax.set_xticks(range(len(TASKS)), TASKS)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=8)
        if metric == "b1_ms_median":
            ax.set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(configs), fontsize=7, frameon=False)
    if ncols == 3:
        ax = axes[2]
        rows = list(e2e["replay"].items())
        vals = [r.get("rate") or 0 for _, r in rows]
        bars = ax.barh(range(len(rows)), vals, color=[COLORS.get(k) for k, _ in rows])
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=2)
        ax.set_yticks(range(len(rows)), [r["label"].replace(" · ", "\n") for _, r in rows], fontsize=7)
        ax.axvline(300, color="#555", linestyle="--", linewidth=1)
        ax.text(300, len(rows) - 0.5, " target 300", fontsize=7, color="#555", va="bottom")
        ax.set_title("End to end: replay --speed max --headless\n(both models per tweet)", fontsize=9)
        ax.set_xlabel("tweets/s, higher is better", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
    m = models["machine"]
    fig.suptitle(f"finterm on {m['cpu']} ({m['cores']} cores), {m['date_utc']}", fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=RESULTS / "models.json")
    ap.add_argument("--e2e", type=Path, default=RESULTS / "e2e.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "benchmarks.png")
    a = ap.parse_args(argv)
    e2e = read_json(a.e2e) if a.e2e.is_file() else None
    print(plot(read_json(a.models), e2e, a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
