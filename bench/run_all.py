"""The whole benchmark suite in one go: models, end to end, figure, BENCHMARKS.md.

    python bench/run_all.py [--quick] [--skip-models] [--skip-e2e]

Runs bench/models.py and bench/e2e.py (each in its own process, so their memory and
compiled engines do not mix), then bench/plot.py and bench/report.py. Results land in
bench/results/models.json and e2e.json, the figure in bench/benchmarks.png, the tables
in BENCHMARKS.md. Model folders other than the shipped ones (stand-ins) can be given with
--sentiment/--topic and the teachers with --*-teacher / --*-teacher-onnx. Give the machine to the suite: other work running at
the same time makes every figure slower and noisier.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, ROOT, log  # noqa: E402


def run(script: str, *args: str) -> None:
    cmd = [sys.executable, str(HERE / script), *args]
    log(" ".join(cmd[1:]))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, NM_DISABLE_ANALYTICS="1"))
    log(f"{script} took {time.perf_counter() - t0:.0f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tweets and runs (a smoke test of the suite)")
    ap.add_argument("--skip-models", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--png", type=Path, default=ROOT / "bench" / "benchmarks.png")
    for task in ("sentiment", "topic"):
        for suffix in ("", "-teacher", "-teacher-onnx"):
            ap.add_argument(f"--{task}{suffix}", type=Path, default=None,
                            help=f"{task}{suffix.replace('-', ' ')} folder (default: see models.py)")
    a = ap.parse_args(argv)
    models_json, e2e_json = a.results / "models.json", a.results / "e2e.json"

    def folders(*suffixes):
        out = []
        for task in ("sentiment", "topic"):
            for suffix in suffixes:
                v = getattr(a, f"{task}{suffix}".replace("-", "_"))
                if v:
                    out += [f"--{task}{suffix}", str(v)]
        return out

    if not a.skip_models:
        q = ["--n", "64", "--n1", "16", "--runs", "1"] if a.quick else []
        run("models.py", *q, "--out", str(models_json), *folders("", "-teacher", "-teacher-onnx"))
    if not a.skip_e2e:
        q = ["--runs", "1", "--live-seconds", "5", "--ui-seconds", "5"] if a.quick else []
        run("e2e.py", *q, "--out", str(e2e_json), *folders("", "-teacher-onnx"))
    run("plot.py", "--models", str(models_json), "--e2e", str(e2e_json), "--out", str(a.png))
    run("report.py", "--models", str(models_json), "--e2e", str(e2e_json), "--out", str(a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
