"""What a short replay pays for DeepSparse's compiles: batch scoring with and without them.

    python bench/compile_cost.py [--runs 3] [--file REPLAY] [--variants during,compiled,ort]
                                 [--out bench/results/compile_cost.json]

`finterm --replay FILE --speed max` on DeepSparse compiles four engines (16 rows × 32 and
64 tokens, per model) while the first tweets are scored. This script scores the replay's
tweets through the classifier the app builds for batch scoring, handed over as its pipeline
does (a first batch of 16, then chunks of 256, sorted by length into batches of 16;
retweets scored once), without the source, the JSON output or process start-up, under
these variants:

- `during`: the app's warm-up: the four shapes compile two at a time as scoring starts,
  ONNX Runtime scores until a model's first engine is ready (finterm/wiring.py, build_classifier);
- `compiled`: the same engines, compiled before the clock starts (the steady state);
- `no-s64`: like `during`, but the sentiment model compiles only its 32-token shape and
  ONNX Runtime scores its longer batches (one compile fewer);
- `ort`: the same model files on ONNX Runtime alone (`--engine onnxruntime`: no compiles).

Each run is a fresh process (compiled engines do not carry over); variants are interleaved
and medians reported. Prints a table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPLAY, RESULTS, log, machine, median, model_info, shipped_dir, write_json  # noqa: E402

VARIANTS = ("during", "compiled", "no-s64", "ort")


def _classifier(variant: str):
    """The classifier the app builds for batch scoring (finterm/wiring.py, build_classifier), or for
    `no-s64` the same one with the sentiment model's 64-token shape left out."""
    from finterm.config import Config
    from finterm.engine.classifier import Classifier
    from finterm.wiring import build_classifier

    config = Config(engine="onnxruntime" if variant == "ort" else "deepsparse")
    if variant != "no-s64":
        return build_classifier(config, batch_scoring=True)
    rows = (config.batching.batch_size,)
    clf = Classifier(engine=config.engine, batch_size=rows[0], compile_jobs=os.cpu_count() or 1)
    clf.warmup(lengths=(32,), rows=rows, bridge="first", tasks=("sentiment",))
    clf.warmup(lengths=(32, 64), rows=rows, bridge="first", tasks=("topic",))
    return clf


def one_run(variant: str, path: Path) -> dict:
    """Score the file once under `variant` in this process; the figures as a dict."""
    from finterm.records import make_tweet
    from finterm.sources.replay import read_rows
    from finterm.wiring import BATCH_SCORING_CHUNK

    tweets = [make_tweet(r.id, r.created_at, r.user, r.text, tickers=r.symbols, lang=r.lang, source="replay")
              for r in read_rows(path)]
    clf = _classifier(variant)
    if variant == "compiled":
        clf.wait_ready()
    t0 = time.perf_counter()
    first = None
    # as the pipeline hands them over: a first batch alone (a quick first line), then chunks
    bounds = [0, min(clf.batch_size, len(tweets)), *range(BATCH_SCORING_CHUNK, len(tweets), BATCH_SCORING_CHUNK),
              len(tweets)]
    for a, b in zip(bounds, bounds[1:]):
        if b > a:
            clf.score(tweets[a:b])
            first = first if first is not None else time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    batches, bridged = clf.bridged_share()
    compile_s = sum(sum(shapes.values()) for shapes in clf.compile_seconds().values())
    clf.wait_ready()  # no compile left running when the process exits
    return {"variant": variant, "tweets": len(tweets), "seconds": round(seconds, 3),
            "rate": round(len(tweets) / seconds, 1), "first_s": round(first or 0.0, 3),
            "batches": batches, "bridged": bridged, "compile_s_sum": round(compile_s, 2),
            "distinct": clf.cache_lookups - clf.cache_hits}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per variant, interleaved (default 3)")
    ap.add_argument("--file", type=Path, default=REPLAY, help="replay file (default: the 2,733-tweet replay)")
    ap.add_argument("--variants", default="during,compiled,ort", help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--out", type=Path, default=RESULTS / "compile_cost.json")
    ap.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a single run, in this process
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one_run(a.one, a.file)))
        return 0
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {', '.join(bad)}: choose from {', '.join(VARIANTS)}")
    if not a.file.exists():
        ap.error(f"{a.file} not found")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(a.runs):
        for v in variants:
            out = subprocess.run([sys.executable, __file__, "--one", v, "--file", str(a.file)],
                                 capture_output=True, text=True, env=dict(os.environ, NM_DISABLE_ANALYTICS="1"))
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                log(f"run {i + 1} of {v} failed (exit {out.returncode})")
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs[v].append(r)
            log(f"run {i + 1}/{a.runs} {v}: {r['rate']} tweets/s in {r['seconds']} s, "
                f"{r['bridged']} of {r['batches']} batches on ONNX Runtime, compiles {r['compile_s_sum']} s")
    base = median([r["rate"] for r in runs.get("compiled", [])]) if runs.get("compiled") else None
    print(f"\n{a.file.name}: {runs[variants[0]][0]['tweets']:,} tweets "
          f"({runs[variants[0]][0]['distinct']:,} distinct texts scored), {a.runs} runs each, medians\n")
    print("| variant | tweets/s | range | seconds | batches on ONNX Runtime | compile s (sum) | × compiled |")
    print("|---|---:|---|---:|---:|---:|---:|")
    summary = {}
    for v in variants:
        rs = runs[v]
        rate = median([r["rate"] for r in rs])
        summary[v] = {"rate": rate, "seconds": median([r["seconds"] for r in rs]),
                      "bridged": median([r["bridged"] for r in rs]), "batches": rs[0]["batches"],
                      "compile_s_sum": median([r["compile_s_sum"] for r in rs])}
        s = summary[v]
        ratio = f"{rate / base:.2f}" if base else "–"
        on_ort = f"{s['bridged']:.0f} of {s['batches']}" if s["batches"] else "–"  # none bridged on ONNX Runtime alone
        print(f"| {v} | {rate:.1f} | {min(r['rate'] for r in rs):.0f}-{max(r['rate'] for r in rs):.0f} | "
              f"{s['seconds']:.2f} | {on_ort} | {s['compile_s_sum']:.1f} | {ratio} |")
    write_json(a.out, {"machine": machine(), "file": str(a.file), "runs": runs, "summary": summary,
                       "models": {t: model_info(shipped_dir(t), t) for t in ("sentiment", "topic")}})
    log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
