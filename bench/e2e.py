"""End to end: the real `finterm` command as a user runs it, timed from outside.

    python bench/e2e.py [--runs 3] [--rates 10,50,200] [--out bench/results/e2e.json]

1. Batch scoring: `finterm --replay <replay file> --speed max --headless` (2,733 real tweets)
   with the shipped models on DeepSparse (--runs times), and once or more each with the
   shipped models on ONNX Runtime and with the dense fp32 teachers on ONNX Runtime.
   Reported: the pipeline's rate (tweets / time from the first tweet read to the last one
   scored, from finterm's own summary), the wall rate (tweets / whole process time, start-up
   included), the time from starting the process to the first scored line on stdout, and
   the peak RSS of the process (wait4's ru_maxrss).
   The same three over a longer replay (--long N distinct real tweets from the
   twitter-financial-news CSVs, built in bench/.cache and never committed), once each: the
   rate once the DeepSparse compiles (seconds, at the start) are spread over more tweets.
2. Live rates: a paced replay (real tweets from the same file, one every 1/R seconds,
   played at --speed 1) at each rate R; reported: arrival-to-scored p50/p99 from finterm's
   summary (a tweet's arrival = the moment the source hands it to the pipeline; scored = its
   JSON line written), time to first scored tweet, peak RSS.
3. The Textual UI on a pseudo-terminal over the 50 tweets/s paced replay, quit with `q`
   after --ui-seconds: peak RSS of the app in UI mode.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    REPLAY,
    RESULTS,
    ROOT,
    SHARED,
    TASKS,
    log,
    machine,
    median,
    model_info,
    shipped_dir,
    teacher_checkpoint,
    write_json,
)

SUMMARY_RE = re.compile(
    r"finterm: ([\d,]+) tweets in ([\d.]+) s \(([\d.]+) tweets/s\).*?batch latency p50 ([\d.]+|-)(?: ms)? "
    r"p99 ([\d.]+|-)(?: ms)?.*?arrival-to-scored p50 ([\d.]+|-)(?: ms)? p99 ([\d.]+|-)(?: ms)?")


def cli_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "finterm.cli", "--config", str(ROOT / "config.yaml"), *args]


def env_for(tag: str) -> dict:
    env = dict(os.environ, NM_DISABLE_ANALYTICS="1", PYTHONUNBUFFERED="1")
    CACHE.mkdir(parents=True, exist_ok=True)
    env["FINTERM_LOG"] = str(CACHE / f"e2e-{tag}.log")
    Path(env["FINTERM_LOG"]).unlink(missing_ok=True)
    return env


def _num(s: str):
    return None if s == "-" else float(s.replace(",", ""))


def run_headless(args: list[str], tag: str, timeout: float = 600) -> dict:
    """Run finterm headless; time the first stdout line; peak RSS from wait4."""
    env = env_for(tag)
    t0 = time.perf_counter()
    p = subprocess.Popen(cli_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    first = None
    lines = 0
    err_chunks: list[bytes] = []
    t_err = threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True)
    t_err.start()
    deadline = t0 + timeout
    for line in p.stdout:
        if first is None:
            first = time.perf_counter() - t0
        lines += 1
        if time.perf_counter() > deadline:
            p.send_signal(signal.SIGINT)
            break
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    t_err.join(5)
    err = b"".join(err_chunks).decode("utf-8", "replace")
    m = SUMMARY_RE.search(err)
    out = {"tag": tag, "exit": p.returncode, "lines": lines, "wall_s": wall, "first_scored_s": first,
           "wall_rate": lines / wall if wall else None, "peak_rss_mb": ru.ru_maxrss / 1024,
           "cpu_s": ru.ru_utime + ru.ru_stime}
    if m:
        out.update(count=int(m.group(1).replace(",", "")), pipeline_s=float(m.group(2)), rate=float(m.group(3)),
                   batch_p50_ms=_num(m.group(4)), batch_p99_ms=_num(m.group(5)),
                   e2e_p50_ms=_num(m.group(6)), e2e_p99_ms=_num(m.group(7)))
    else:
        out["stderr_tail"] = err[-1500:]
    out["log"] = _log_facts(Path(env["FINTERM_LOG"]))
    return out


def _log_facts(path: Path) -> dict:
    """Compile events from finterm's log file (DeepSparse shapes and their compile times)."""
    facts = {"compiles": []}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return facts
    for m in re.finditer(r"compiled (\S+) (\d+)×(\d+) in ([\d.]+) s", text):
        facts["compiles"].append(f"{m.group(1)} {m.group(2)}x{m.group(3)} {m.group(4)} s")
    return facts


def run_ui(args: list[str], tag: str, seconds: float) -> dict:
    """The Textual app on a pseudo-terminal (120x40) for `seconds`, then `q`; peak RSS."""
    import fcntl
    import pty
    import struct
    import termios

    env = env_for(tag)
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.chdir(ROOT)
            os.execve(sys.executable, cli_cmd(*args), env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    sent_q = False
    out_bytes = 0
    status = ru = None
    while True:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out_bytes += len(os.read(fd, 65536))
            except OSError:
                pass
        now = time.perf_counter() - t0
        if not sent_q and now >= seconds:
            os.write(fd, b"q")
            sent_q = True
        if now >= seconds + 15:
            os.kill(pid, signal.SIGKILL)
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid:
            break
    os.close(fd)
    return {"tag": tag, "exit": os.waitstatus_to_exitcode(status), "wall_s": time.perf_counter() - t0,
            "screen_bytes": out_bytes, "peak_rss_mb": ru.ru_maxrss / 1024, "cpu_s": ru.ru_utime + ru.ru_stime,
            "log": _log_facts(Path(env["FINTERM_LOG"]))}


def paced_file(rate: float, seconds: float) -> Path:
    """Real tweets from the replay file, re-timed to exactly `rate` a second (JSONL)."""
    n = int(rate * seconds)
    path = CACHE / f"paced-{rate:g}-{n}.jsonl"
    if path.is_file():
        return path
    rows = [json.loads(line) for line in REPLAY.read_text(encoding="utf-8").splitlines() if line.strip()]
    base = datetime(2014, 10, 1, tzinfo=timezone.utc)
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            r = dict(rows[i % len(rows)])
            r["id"] = f"{r.get('id', 'x')}-{i}"
            r["created_at"] = (base + timedelta(seconds=i / rate)).isoformat().replace("+00:00", "Z")
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def long_file(n: int) -> Path:
    """Up to `n` distinct real tweets from the twitter-financial-news CSVs, as a JSONL replay.

    Derived row for row from ../shared/data, so it lives in bench/.cache (git-ignored)."""
    path = CACHE / f"long-replay-{n}.jsonl"
    if path.is_file():
        return path
    import csv

    texts: dict[str, None] = {}
    for name in ("topic_train", "sent_train", "topic_valid", "sent_valid"):
        with (SHARED / "twitter-financial-news" / f"{name}.csv").open(encoding="utf-8", newline="") as f:
            texts.update(dict.fromkeys(r["text"] for r in csv.DictReader(f)))
    base = datetime(2022, 1, 3, tzinfo=timezone.utc)
    CACHE.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(list(texts)[:n]):
            at = (base + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
            f.write(json.dumps({"id": str(i), "created_at": at, "user": "bench", "text": text}, ensure_ascii=False) + "\n")
    return path


def model_args(dirs: dict[str, Path], engine: str) -> list[str]:
    return ["--engine", engine, "--sentiment-model", str(dirs["sentiment"]), "--topic-model", str(dirs["topic"])]


def summarize(runs: list[dict]) -> dict:
    keys = ("rate", "wall_rate", "first_scored_s", "peak_rss_mb", "e2e_p50_ms", "e2e_p99_ms", "count", "cpu_s")
    out = {k: median([r[k] for r in runs if r.get(k) is not None]) for k in keys}
    out["runs"] = len(runs)
    out["exits"] = [r["exit"] for r in runs]
    out["max_peak_rss_mb"] = max((r["peak_rss_mb"] for r in runs), default=None)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="replay --speed max runs with the shipped models (default 3)")
    ap.add_argument("--other-runs", type=int, default=1, help="runs for the ONNX Runtime rows (default 1)")
    ap.add_argument("--rates", default="10,50,200", help="live rates in tweets/s (default 10,50,200)")
    ap.add_argument("--live-seconds", type=float, default=20.0, help="length of each live run (default 20)")
    ap.add_argument("--ui-seconds", type=float, default=20.0, help="UI run length; 0 skips it (default 20)")
    ap.add_argument("--long", type=int, default=10000, help="tweets in the longer replay; 0 skips it (default 10000)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: max,dense,ort,long,live,ui")
    ap.add_argument("--args", default="", help="extra finterm flags for every run, e.g. '--batch-size 32'")
    ap.add_argument("--live-args", default="", help="extra finterm flags for the live and UI runs, e.g. '--max-wait-ms 10'")
    for task in TASKS:
        ap.add_argument(f"--{task}", type=Path, default=shipped_dir(task))
        ap.add_argument(f"--{task}-teacher-onnx", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS / "e2e.json")
    a = ap.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    shipped = {t: getattr(a, t) for t in TASKS}
    dense = {t: getattr(a, f"{t}_teacher_onnx") for t in TASKS}
    if "dense" not in skip and not all(dense.values()):
        from teacher_onnx import export

        dense = {t: dense[t] or export(t, teacher_checkpoint(t)) for t in TASKS}

    data: dict = {"machine": machine(), "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()} | {
        "env": {k: v for k, v in os.environ.items() if k.startswith("FINTERM_") and k != "FINTERM_LOG"}, "command": "python bench/e2e.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])}, "models": {
        "shipped": {t: model_info(shipped[t], t) for t in TASKS},
        "dense": {t: model_info(dense[t], t) for t in TASKS if dense.get(t)}}, "replay": {}, "long": {}, "live": {}}
    extra, live_extra = a.args.split(), a.live_args.split()
    replay = ["--replay", str(REPLAY), "--speed", "max", "--headless", *extra]
    plan = []
    if "max" not in skip:
        plan.append(("ds_sparse", "shipped sparse-int8 · DeepSparse", model_args(shipped, "deepsparse"), a.runs))
    if "ort" not in skip:
        plan.append(("ort_sparse", "shipped sparse-int8 · ONNX Runtime", model_args(shipped, "onnxruntime"), a.other_runs))
    if "dense" not in skip:
        plan.append(("ort_dense", "dense fp32 teachers · ONNX Runtime", model_args(dense, "onnxruntime"), a.other_runs))
    runs: dict[str, list] = {k: [] for k, *_ in plan}
    for i in range(max((p[3] for p in plan), default=0)):  # interleaved, run by run
        for key, label, margs, n in plan:
            if i < n:
                r = run_headless([*replay, *margs], f"max-{key}-{i}")
                runs[key].append(r)
                log(f"replay max {label} run {i + 1}: {r.get('rate', 0):.1f} tweets/s pipeline, "
                    f"{r['wall_rate']:.1f} wall, first {r['first_scored_s'] or -1:.2f} s, {r['peak_rss_mb']:.0f} MB, "
                    f"exit {r['exit']}")
    for key, label, *_ in plan:
        data["replay"][key] = {"label": label, **summarize(runs[key]), "raw": runs[key]}
    if "long" not in skip and a.long > 0:
        path = long_file(a.long)
        for key, label, margs, _ in plan:
            r = run_headless(["--replay", str(path), "--speed", "max", "--headless", *extra, *margs], f"long-{key}", timeout=1200)
            data["long"][key] = {"label": label, "file": path.name, **r}
            log(f"long replay ({r.get('count') or r['lines']} tweets) {label}: {r.get('rate', 0):.1f} tweets/s pipeline, "
                f"{r['wall_rate']:.1f} wall, {r['peak_rss_mb']:.0f} MB, exit {r['exit']}")

    if "live" not in skip:
        for rate in [float(x) for x in a.rates.split(",") if x]:
            path = paced_file(rate, a.live_seconds)
            r = run_headless(["--replay", str(path), "--speed", "1", "--headless", *extra, *live_extra,
                              *model_args(shipped, "deepsparse")],
                             f"live-{rate:g}")
            data["live"][f"{rate:g}"] = r
            log(f"live {rate:g} tweets/s: arrival-to-scored p50 {r.get('e2e_p50_ms')} ms p99 {r.get('e2e_p99_ms')} ms, "
                f"first {r['first_scored_s'] or -1:.2f} s, {r['peak_rss_mb']:.0f} MB, exit {r['exit']}")
    if "ui" not in skip and a.ui_seconds > 0:
        path = paced_file(50.0, max(a.ui_seconds, a.live_seconds))
        r = run_ui(["--replay", str(path), "--speed", "1", *extra, *live_extra, *model_args(shipped, "deepsparse")],
                   "ui", a.ui_seconds)
        data["ui"] = r
        log(f"UI 50 tweets/s for {a.ui_seconds:g} s: peak RSS {r['peak_rss_mb']:.0f} MB, exit {r['exit']}")
    write_json(a.out, data)
    print(table(data))
    return 0


def _ratio_note(rows: dict, key: str) -> str:
    ref, r = rows.get("ds_sparse", {}).get("rate"), rows[key].get("rate")
    return f"  (shipped DS is {ref / r:.1f}x)" if ref and r and key != "ds_sparse" else ""


def table(data: dict) -> str:
    lines = [f"{'replay --speed max':40} {'pipeline tw/s':>13} {'wall tw/s':>9} {'first s':>7} {'peak MB':>8}"]
    for key, r in data["replay"].items():
        lines.append(f"{r['label']:40} {r['rate'] or 0:13.1f} {r['wall_rate'] or 0:9.1f} {r['first_scored_s'] or 0:7.2f} "
                     f"{r['max_peak_rss_mb'] or 0:8.0f}{_ratio_note(data['replay'], key)}")
    if data.get("long"):
        lines.append(f"\n{'longer replay':40} {'pipeline tw/s':>13} {'wall tw/s':>9} {'peak MB':>8}")
        for key, r in data["long"].items():
            lines.append(f"{r['label']:40} {r.get('rate') or 0:13.1f} {r['wall_rate'] or 0:9.1f} {r['peak_rss_mb']:8.0f}"
                         f"{_ratio_note(data['long'], key)}")
    if data.get("live"):
        lines.append(f"\n{'live rate (DeepSparse)':24} {'p50 ms':>8} {'p99 ms':>8} {'first s':>7} {'peak MB':>8}")
        for rate, r in data["live"].items():
            lines.append(f"{rate + ' tweets/s':24} {r.get('e2e_p50_ms') or 0:8.1f} {r.get('e2e_p99_ms') or 0:8.1f} "
                         f"{r['first_scored_s'] or 0:7.2f} {r['peak_rss_mb']:8.0f}")
    if data.get("ui"):
        lines.append(f"\nUI (Textual, 50 tweets/s): peak RSS {data['ui']['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
