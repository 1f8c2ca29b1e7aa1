"""What a SIGKILL costs a `--record` file, and what recording costs, as the recording grows.

    python bench/recorder_kill.py [--rate 2000] [--kill-at 20000,200000,1000000]

For each kill point, a child process feeds finterm's Recorder scored tweets at a fixed rate
(no models: this measures the recorder alone) and prints how many it has handed over; the
parent SIGKILLs it once that count passes the kill point, then counts the rows on disk the
way the next run sees them (parquet file + journal). Printed: rows handed over, rows on
disk, the loss in rows and in seconds of input, the parquet file's size, and the child's
peak RSS. Numbers, not asserts: tests/test_recorder.py checks the behaviour.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(path: str, rate: float) -> None:
    """Feed the recorder `rate` tweets a second in 20 ms batches; report progress on stdout."""
    from finterm.records import Scored, Tweet
    from finterm.sinks.recorder import Recorder

    rec = Recorder(path)
    t0, n, step = time.monotonic(), 0, max(1, int(rate / 50))
    base = datetime(2024, 5, 1, tzinfo=timezone.utc)
    while True:
        batch = [Scored(Tweet(id=str(n + i), created_at=base + timedelta(milliseconds=n + i), author="bench",
                              text=f"$AAPL bench tweet {n + i} with some words to make it tweet-sized, "
                                   "like the ones finterm records all day", tickers=("AAPL",)),
                        "Bullish", 0.9, "Earnings", 0.8, batch_latency_ms=3.0) for i in range(step)]
        rec(batch)
        n += step
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n} {peak:.0f}", flush=True)
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def on_disk(path: Path) -> int:
    from finterm.store import recording_files as files

    return files.parquet_rows(path) + len(files.unmerged_rows(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=2000.0, help="tweets a second handed to the recorder")
    ap.add_argument("--kill-at", default="20000,200000,1000000", help="comma-separated row counts")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.rate)
    print("| rows handed over | rows on disk after SIGKILL | lost rows | lost seconds | parquet MB | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for kill_at in [int(x) for x in a.kill_at.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "rec.parquet"
            proc = subprocess.Popen([sys.executable, __file__, "--rate", str(a.rate), "--child", str(out)],
                                    stdout=subprocess.PIPE, text=True, cwd=ROOT)
            handed, peak = 0, 0.0
            for line in proc.stdout:
                handed, peak = int(line.split()[0]), float(line.split()[1])
                if handed >= kill_at:
                    break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            disk = on_disk(out)
            size = out.stat().st_size / 1e6 if out.exists() else 0.0
            print(f"| {handed:,} | {disk:,} | {handed - disk:,} | {(handed - disk) / a.rate:.2f} | {size:.1f} | {peak:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
