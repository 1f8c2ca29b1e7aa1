"""Soak: the live pipeline for a long time at a steady pace; does memory stay flat, does
latency hold, is anything lost or scored twice?

    python bench/soak.py [--minutes 30] [--rate 50] [--sources demo,x] [--engine auto]
                         [--threads N] [--together] [--out bench/results/soak.json]

Each source runs in its own child process (so each RSS is its own), one after the other by
default, as the app runs on its machine: its engines on every core (--threads). With
--together they run at the same time, the cores shared out among them (two DeepSparse
processes that each take every core spin against each other, STACK.md), which shows what a
machine shared with other work does to the latency:
- `demo`: the built-in market simulator at --rate posts/s (its news bursts come on top, as
  in `finterm --demo`), through `wiring.build_run` as the screen's pipeline is built;
- `x`: the real live X source (HTTP client, JSON lines, rule sync, id dedup) against a
  local fake X API (tests/xserver.py, in this parent process) that streams --rate posts/s.

Each child builds its run, then waits for the DeepSparse compiles the warm-up started
(`Classifier.wait_ready`) before the clock starts: RSS at the first mark is the warmed
process. It drains the pipeline's events as the screen does (bounded per tick) into the
screen's aggregator and a feed of `ui.feed_max` posts, and measures: RSS every 10 s;
arrival-to-scored for every post (a post's arrival: the source hands it to the pipeline;
scored: its batch handed to the sinks) in a fixed histogram, so the bench itself does
not grow; lost posts (ids are consecutive: a gap is a loss, emitted but never scored)
and posts scored twice (the run ends by closing the source's tap and letting the backlog
drain; what a stop then still drops is reported apart, as `unscored_at_stop`). RSS is reported at 1, 10 and 30 minutes, or at the same
fractions (1/30, 1/3, 1) of a shorter --minutes. Goal (issue 22): RSS growth <= 5% after
the first minute, p99 <= 100 ms, 0 lost, 0 twice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, machine, write_json  # noqa: E402

sys.path.insert(0, str(ROOT))

#: Latency histogram: 0.1 ms buckets up to 60 s (the last bucket holds anything slower).
BUCKET_MS = 0.1
BUCKETS = 600_000
RSS_EVERY_S = 10.0
TOKEN = "soak-token"
WATCH = ["SPY", "AAPL", "TSLA", "NVDA"]


# -- the child: one pipeline, measured --------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (BUCKETS + 1)
        self.n = 0

    def add(self, ms: float) -> None:
        self.counts[min(BUCKETS, max(0, int(ms / BUCKET_MS)))] += 1
        self.n += 1

    def quantile(self, q: float) -> float | None:
        if not self.n:
            return None
        want, seen = q * self.n, 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= want:
                return (i + 1) * BUCKET_MS  # the bucket's upper edge
        return BUCKETS * BUCKET_MS


class Probe:
    """A sink: latency of every post, and ids checked for gaps (lost) and repeats (twice)."""

    name = "probe"

    def __init__(self, number) -> None:
        self.number = number  # post id -> its sequence number
        self.hist = Histogram()
        #: Posts scored after the first mark (DeepSparse compiles and start-up behind).
        self.steady = Histogram()
        self.warm = False
        self.scored = 0
        self.twice = 0
        self.gaps = 0
        self.last: int | None = None
        self.lock = threading.Lock()

    def __call__(self, batch) -> None:
        now = time.monotonic()
        with self.lock:
            for s in batch:
                ms = (now - s.tweet.arrived) * 1000.0
                self.hist.add(ms)
                if self.warm:
                    self.steady.add(ms)
                n = self.number(s.tweet.id)
                if self.last is not None and n <= self.last:
                    self.twice += 1
                    continue
                if self.last is not None and n > self.last + 1:
                    self.gaps += n - self.last - 1
                elif self.last is None and n > 0:
                    self.gaps += n
                self.last = n
                self.scored += 1

    def close(self) -> None:
        pass


class Counted:
    """The source, counting what it hands the pipeline. `close()` ends the handing over (the
    source itself runs on), so the run can end with everything handed over scored: then
    lost = handed over - scored, exactly."""

    def __init__(self, source) -> None:
        self.inner = source
        self.name = source.name
        self.emitted = 0
        self.closed = threading.Event()

    def describe(self) -> str:
        return self.inner.describe()

    def run(self, emit, status, stop) -> None:
        def counted(tweet) -> None:
            if self.closed.is_set():
                return
            self.emitted += 1
            emit(tweet)

        self.inner.run(counted, status, stop)


def child(args) -> dict:
    os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
    from functools import partial

    from finterm import wiring
    from finterm.config import load_config
    from finterm.sinks.aggregate import Aggregator
    from finterm.sources.base import SourceOptions
    from finterm.wiring import build_run

    wiring.build_classifier = partial(wiring.build_classifier, threads=args.threads or 0)

    config = load_config(str(ROOT / "config.yaml"))
    config.engine = args.engine
    config.record = None
    config.demo.rate = args.rate
    config.demo.seed = 22
    config.watchlist = list(WATCH)
    if args.child == "demo":
        run = build_run("demo", SourceOptions(speed=1.0), config)

        def number(tid: str) -> int:
            return int(tid.rsplit("-", 1)[1])
    else:
        run = build_run("x", SourceOptions(), config)

        def number(tid: str) -> int:
            return int(tid)

    pipeline = run.pipeline
    t_warm = time.monotonic()
    ready = pipeline.classifier.wait_ready(timeout=900) if hasattr(pipeline.classifier, "wait_ready") else None
    warm_s = time.monotonic() - t_warm
    probe = Probe(number)
    pipeline.sinks.append(probe)
    pipeline.source = counted = Counted(pipeline.source)
    agg = Aggregator(window_minutes=config.ui.window(), retain_minutes=240)
    feed: deque = deque(maxlen=config.ui.feed_max)

    total_s = args.minutes * 60.0
    marks = sorted({total_s / 30, total_s / 3, total_s})
    rss: list[tuple[float, float]] = []
    points: list[dict] = []
    pipeline.start()
    t0 = time.monotonic()
    next_rss = 0.0
    while True:
        now = time.monotonic() - t0
        taken = 0
        while taken < 2000:  # as the screen drains: bounded work per tick
            try:
                ev = pipeline.events.get_nowait()
            except Exception:
                break
            taken += 1
            if isinstance(ev, list):
                agg.add_batch(ev)
                feed.extend(ev)
        if now >= next_rss:
            rss.append((round(now, 1), round(rss_mb(), 1), round(os.getloadavg()[0], 2)))
            next_rss += RSS_EVERY_S
        while marks and now >= marks[0]:
            m = marks.pop(0)
            with probe.lock:
                p50, p99 = probe.hist.quantile(0.5), probe.hist.quantile(0.99)
            points.append({"at_min": round(m / 60, 2), "rss_mb": round(rss_mb(), 1), "scored": probe.scored,
                           "e2e_p50_ms": p50, "e2e_p99_ms": p99, "backlog": pipeline.backlog().waiting,
                           "load_avg": os.getloadavg()[0], "cpu_s": round(sum(os.times()[:2]), 1)})
            probe.warm = True
        if not marks:
            break
        time.sleep(0.1)
    counted.closed.set()  # no more posts in; let the pipeline score what it has, then stop
    progress, last_seen = time.monotonic(), probe.scored
    while time.monotonic() - progress < 30 and (pipeline.backlog().waiting or probe.scored < counted.emitted):
        if probe.scored != last_seen:
            progress, last_seen = time.monotonic(), probe.scored
        while True:
            try:
                pipeline.events.get_nowait()
            except Exception:
                break
        time.sleep(0.1)
    pipeline.stop()
    pipeline.finish()
    st = pipeline.stats
    lost = counted.emitted - probe.scored - pipeline.unscored
    return {
        "source": args.child, "minutes": args.minutes, "rate_asked": args.rate,
        "engine": getattr(pipeline.classifier, "engine_name", "?"), "warmup_s": round(warm_s, 1),
        "compiled_before_start": ready,
        "emitted": counted.emitted, "scored": probe.scored, "rate": probe.scored / (time.monotonic() - t0),
        "lost": lost, "gaps": probe.gaps, "twice": probe.twice,
        "unscored_at_stop": pipeline.unscored, "failed": pipeline.failed,
        "e2e_p50_ms": probe.hist.quantile(0.5), "e2e_p99_ms": probe.hist.quantile(0.99),
        "steady_scored": probe.steady.n,
        "steady_p50_ms": probe.steady.quantile(0.5), "steady_p99_ms": probe.steady.quantile(0.99),
        "e2e_max_ms": max((i + 1) * BUCKET_MS for i, c in enumerate(probe.hist.counts) if c) if probe.hist.n else None,
        "batch_p50_ms": st.latency_p50, "batch_p99_ms": st.latency_p99,
        "backlog_peak": st.backlog_peak, "wait_peak_s": st.wait_peak_s,
        "feed_len": len(feed), "aggregator_minutes": len(agg._buckets), "points": points, "rss": rss,
    }


# -- the fake live service ---------------------------------------------------------------------
def fake_x(rate: float, stop: threading.Event):
    """tests/xserver.XServer streaming `rate` posts/s, made on the fly from the demo market's texts."""
    from finterm.sources.demo.simulator import DemoMarket
    from tests.xserver import Stream, XServer, tweet

    server = XServer(token=TOKEN, keepalive_s=1.0)
    texts = iter(DemoMarket(seed=7, rate=rate))

    def paced():
        t0 = time.monotonic()
        n = 0
        while not stop.is_set():
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            text = next(texts).text
            if not any(f"${t}" in text for t in WATCH):
                text += f" ${WATCH[n % len(WATCH)]}"
            created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            server.publish(str(n), text, username=f"trader{n % 97}", created_at=created)
            with server.lock:
                server.tweets.pop(str(n - 1000), None)  # the fake service keeps only recent posts
            yield tweet(str(n))
            n += 1

    server.stream_script = [Stream(paced())]
    return server


# -- the parent ----------------------------------------------------------------------------------
def main() -> int:
    from finterm.config import ENGINES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="how long each source runs (default 30)")
    ap.add_argument("--rate", type=float, default=50.0, help="posts per second (default 50)")
    ap.add_argument("--sources", default="demo,x", help="demo, x (the fake live X API), or both (default)")
    ap.add_argument("--engine", default="auto", choices=ENGINES)
    ap.add_argument("--threads", type=int, default=None, help="cores for each child's engines (default: the "
                    "machine's cores; with --together, shared out among the sources, at least 1 each)")
    ap.add_argument("--together", action="store_true", help="run the sources at the same time (default: one "
                    "after the other, each on the whole machine)")
    ap.add_argument("--out", default=str(RESULTS / "soak.json"))
    ap.add_argument("--child", choices=("demo", "x"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        Path(args.json).write_text(json.dumps(child(args)))
        return 0

    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    share = len(names) if args.together else 1
    threads = args.threads or max(1, (os.cpu_count() or 1) // share)
    stop = threading.Event()
    server = None
    env = dict(os.environ, NM_DISABLE_ANALYTICS="1", PYTHONPATH=str(ROOT))
    env.pop("FINTERM_CONFIG", None)
    tmp = Path(tempfile.mkdtemp(prefix="finterm-soak-"))
    if "x" in names:
        server = fake_x(args.rate, stop).__enter__()
        env.update(X_BEARER_TOKEN=TOKEN, FINTERM_X_API_BASE=server.base_url)
    info = machine()
    procs = {}
    results = {}

    def collect(name: str, p: subprocess.Popen) -> None:
        p.wait()
        try:
            results[name] = json.loads((tmp / f"{name}.json").read_text())
        except (OSError, ValueError):
            results[name] = {"source": name, "error": f"child exited {p.returncode}"}
        results[name]["load_avg_at_end"] = round(os.getloadavg()[0], 2)

    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--minutes", str(args.minutes), "--rate", str(args.rate),
               "--engine", args.engine, "--threads", str(threads), "--json", str(tmp / f"{name}.json")]
        env_n = dict(env, FINTERM_LOG=str(tmp / f"{name}.log"))
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env_n)
        if not args.together:
            collect(name, procs[name])
    for name, p in procs.items():
        if name not in results:
            collect(name, p)
    stop.set()
    if server is not None:
        server.__exit__(None, None, None)
    out = {"machine": info, "minutes": args.minutes, "rate": args.rate, "threads": threads,
           "together": args.together, "results": results,
           "load_avg_at_end": os.getloadavg()[0]}
    write_json(Path(args.out), out)
    print(table(out))
    return 0


def table(out: dict) -> str:
    m = out["minutes"]
    at = [round(m / 30, 2), round(m / 3, 2), m]
    head = " | ".join(f"RSS {a:g} min" for a in at)
    lines = [f"| source | posts/s | {head} | growth after {at[0]:g} min | p50 / p99 after {at[0]:g} min | "
             "p50 / p99 / max, whole run | lost | twice |",
             "|---|---|" + "---|" * 3 + "---|---|---|---|---|"]
    for name, r in out["results"].items():
        if "error" in r:
            lines.append(f"| {name} | {r['error']} |")
            continue
        pts = r["points"]
        rss = [p["rss_mb"] for p in pts] + [None] * (3 - len(pts))
        growth = (rss[-1] - rss[0]) / rss[0] * 100 if rss[0] and rss[-1] else None
        cells = " | ".join("-" if x is None else f"{x:.0f} MB" for x in rss[:3])
        label = {"demo": "demo simulator", "x": "fake live X API"}.get(name, name)
        def ms(x):
            return "-" if x is None else f"{x:.0f}" if x >= 100 else f"{x:.1f}"

        lines.append(f"| {label} | {r['rate']:.1f} | {cells} | {growth:+.1f}% | "
                     f"{ms(r['steady_p50_ms'])} / {ms(r['steady_p99_ms'])} ms | "
                     f"{ms(r['e2e_p50_ms'])} / {ms(r['e2e_p99_ms'])} / {ms(r['e2e_max_ms'])} ms | "
                     f"{r['lost']} | {r['twice']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
