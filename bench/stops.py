"""Stops and memory of a replay, timed from outside with the real command (issue 22).

    python bench/stops.py [--runs 3] [--at 5] [--big-seconds 90] [--out bench/results/stops.json]

1. SIGTERM `--at` seconds into `finterm --replay <3,813 tweets> --speed max --headless` (the
   shared replay file, then its first 1,080 rows again under new ids, written to /tmp): the
   time from the signal to the process's exit, rows scored, the summary's stop line; then
   `--skip N` from that line, checked to give exactly the rows not yet written (none lost,
   none twice).
2. A ~150 MB JSONL (the shared file repeated 182 times under new ids: 497,406 rows, in
   /tmp, never committed) replayed the same way for --big-seconds: RSS every second
   (VmRSS from /proc), then SIGTERM; and the time a `--skip` of 400,000 rows takes to reach
   its first scored row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPLAY, RESULTS, ROOT, machine, write_json  # noqa: E402

TMP = Path(os.environ.get("TMPDIR", "/tmp"))
STOP_RE = re.compile(r"stopped by (\w+) · ([\d,]+) scored, the last id (\S+).*resume with --skip (\d+)")


def cmd(*args) -> list[str]:
    return [sys.executable, "-m", "finterm", "--config", str(ROOT / "config.yaml"), *map(str, args)]


def env() -> dict:
    return dict(os.environ, NM_DISABLE_ANALYTICS="1", FINTERM_LOG=str(TMP / "finterm-bench-stops.log"))


def make_files() -> tuple[Path, Path]:
    rows = [json.loads(x) for x in REPLAY.read_text().splitlines() if x.strip()]
    small, big = TMP / "finterm-replay-3813.jsonl", TMP / "finterm-replay-150mb.jsonl"
    if not small.exists():
        with small.open("w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
            for r in rows[: 3813 - len(rows)]:
                f.write(json.dumps(dict(r, id=f"again-{r['id']}")) + "\n")
    if not big.exists():
        with big.open("w") as f:
            for rep in range(182):
                for r in rows:
                    f.write(json.dumps(dict(r, id=f"{rep}-{r['id']}")) + "\n")
    return small, big


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_and_stop(args: list, at: float, sample=False) -> dict:
    p = subprocess.Popen(cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env())
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(p.stdout), daemon=True)
    reader.start()
    t0 = time.monotonic()
    rss = []
    while time.monotonic() - t0 < at and p.poll() is None:
        time.sleep(1.0 if sample else 0.05)
        if sample:
            rss.append((round(time.monotonic() - t0, 1), rss_mb(p.pid)))
    ts = time.monotonic()
    p.send_signal(signal.SIGTERM)
    err = p.stderr.read().decode()
    p.wait()
    stop_s = time.monotonic() - ts
    reader.join(10)
    ids = [json.loads(x)["id"] for x in out]
    m = STOP_RE.search(err)
    return {"exit": p.returncode, "stop_s": round(stop_s, 3), "lines": len(ids), "ids": ids, "rss": rss,
            "stop_line": next((x for x in err.splitlines() if "stopped by" in x), None),
            "skip": int(m.group(4)) if m else None, "last_id": m.group(3) if m else None}


def all_ids(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines() if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--at", type=float, default=5.0, help="seconds before SIGTERM (default 5)")
    ap.add_argument("--big-seconds", type=float, default=90.0)
    ap.add_argument("--out", default=str(RESULTS / "stops.json"))
    args = ap.parse_args()
    small, big = make_files()
    want = all_ids(small)
    info = machine()
    runs = []
    for i in range(args.runs):
        r = run_and_stop(["--replay", small, "--speed", "max", "--headless"], args.at)
        rest = subprocess.run(cmd("--replay", small, "--speed", "max", "--headless", "--skip", r["skip"]),
                              capture_output=True, cwd=ROOT, env=env()) if r["skip"] is not None else None
        got = r.pop("ids") + ([json.loads(x)["id"] for x in rest.stdout.decode().splitlines()] if rest else [])
        r.update(resume_exit=rest.returncode if rest else None, resumed_all=got == want,
                 lost=len(set(want) - set(got)), twice=len(got) - len(set(got)), load_avg=os.getloadavg()[0])
        print(f"run {i + 1}: exit {r['exit']} {r['stop_s']:.2f} s after SIGTERM, {r['lines']:,} written; "
              f"resume --skip {r['skip']}: exit {r['resume_exit']}, all rows once: {r['resumed_all']}", flush=True)
        runs.append(r)
    b = run_and_stop(["--replay", big, "--speed", "max", "--headless"], args.big_seconds, sample=True)
    b.pop("ids")
    peak = max((x for _, x in b["rss"] if x), default=None)
    print(f"150 MB JSONL: peak RSS {peak:.0f} MB over {args.big_seconds:.0f} s, {b['lines']:,} written, "
          f"stopped {b['stop_s']:.2f} s after SIGTERM (exit {b['exit']})", flush=True)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd("--replay", big, "--speed", "max", "--headless", "--skip", 400_000),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env())
    first = p.stdout.readline()
    skip_s = time.perf_counter() - t0
    p.send_signal(signal.SIGTERM)
    p.communicate()
    print(f"--skip 400000 of the 150 MB file: first row {json.loads(first)['id']} after {skip_s:.1f} s", flush=True)
    write_json(Path(args.out), {"machine": info, "sigterm_at_s": args.at, "runs": runs,
                                "big": dict(b, peak_rss_mb=peak, rows=497_406,
                                            size_mb=round(big.stat().st_size / 1e6, 1)),
                                "skip_400000_first_row_s": round(skip_s, 2),
                                "load_avg_at_end": os.getloadavg()[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
