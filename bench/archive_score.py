"""Archive scoring: `finterm score` against the headless replay, and on a local Ray with 1 and 2 workers.

    python bench/archive_score.py [--rows 30000] [--runs 3] [--variants headless,local,ray1,ray2,resume]
                                  [--engine auto] [--out bench/results/archive_score.json]

The archive is built in a temporary folder (never committed): the replay file's tweets
(../shared/data/replay), copy k with each tweet's words shuffled by a seeded generator (the
cashtags move with them), so nearly every row is a distinct text and the models score every
row (no cache hits to flatter anyone); one parquet file of --rows rows.

Every run is a fresh process of the real command, timed from start to exit (model loading,
DeepSparse's compiles and Ray's start included, as a user waits for them):

- `headless`: `finterm --replay FILE --speed max --headless` (stdout to a file);
- `local`: `finterm score FILE -o OUT` (one machine, every core);
- `ray1`, `ray2`: `finterm score FILE -o OUT --ray` on a local Ray: 1 worker with every
  core, 2 workers with one core each (what the machine has: 2 cores here);
- `resume` (once, not timed): `finterm score` killed (SIGKILL) half way, then run again;
  checks that every row is there once.

Rounds run the variants in turn (rotated each round); ratios to the headless replay are
taken within a round, then the median over rounds. Memory: the largest resident size of the
command's process tree (Ray's own processes and workers included), sampled every 0.2 s, and
the largest of one Ray worker. Labels: each variant's against the headless replay's, by row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPLAY, RESULTS, log, machine, median, model_info, shipped_dir, write_json  # noqa: E402

VARIANTS = ("headless", "local", "ray1", "ray2", "resume")
TIMED = ("headless", "local", "ray1", "ray2")


def build_archive(path: Path, rows: int, seed: int = 0) -> dict:
    """One parquet file of `rows` rows from the replay file: copy 0 as is, copy k>0 with the words
    of each tweet shuffled (seeded), ids `<id>-<k>`, times shifted by k days."""
    import polars as pl

    from finterm.text import clean_text, model_text

    base = pl.read_ndjson(REPLAY).select("id", "created_at", "user", "text", "symbols")
    rng = random.Random(seed)
    frames, k = [], 0
    while sum(f.height for f in frames) < rows:
        texts = base["text"].to_list()
        if k:
            shuffled = []
            for t in texts:
                words = t.split()
                rng.shuffle(words)
                shuffled.append(" ".join(words))
            texts = shuffled
        frames.append(base.with_columns(
            (pl.col("id") + f"-{k}").alias("id"),
            (pl.col("created_at").str.to_datetime(time_zone="UTC") + pl.duration(days=k)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("created_at"),
            pl.Series("text", texts),
        ))
        k += 1
    df = pl.concat(frames).head(rows)
    df.write_parquet(path, row_group_size=10_000)
    distinct = len({model_text(clean_text(t)) for t in df["text"].to_list()})
    return {"rows": df.height, "distinct_model_texts": distinct, "copies": k, "size_mb": round(path.stat().st_size / 1e6, 2)}


class TreeMemory:
    """Samples the resident memory of a process and all its descendants (Ray's processes too)."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s = pid, every_s
        self.peak_total_mb = 0.0
        self.peak_worker_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            total, worker = 0.0, 0.0
            for rss, cmd in _tree(self.pid).values():
                total += rss
                if cmd.startswith("ray::MapWorker") or "ScoreChunks" in cmd:
                    worker = max(worker, rss)
            self.peak_total_mb = max(self.peak_total_mb, total)
            self.peak_worker_mb = max(self.peak_worker_mb, worker)


def _tree(root: int) -> dict[int, tuple[float, str]]:
    procs: dict[int, tuple[int, float, str]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            rss = 0.0
            for line in (d / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024.0
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            procs[int(d.name)] = (ppid, rss, cmd)
        except (OSError, ValueError, IndexError):
            continue
    keep, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in procs and pid not in keep:
            keep[pid] = (procs[pid][1], procs[pid][2])
            frontier.extend(p for p, (pp, _, _) in procs.items() if pp == pid)
    return keep


def _env() -> dict:
    return dict(os.environ, NM_DISABLE_ANALYTICS="1", RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "disabled"))


def command(variant: str, archive: Path, work: Path, engine: str, name: str | None = None) -> tuple[list[str], Path]:
    exe = [sys.executable, "-m", "finterm"]
    if variant == "headless":
        return [*exe, "--replay", str(archive), "--speed", "max", "--headless", "--engine", engine], work / "headless.jsonl"
    out = work / f"out-{name or variant}"
    base = [*exe, "score", str(archive), "-o", str(out), "--engine", engine, "--no-progress"]
    if variant == "ray1":
        base += ["--ray", "--workers", "1", "--threads", str(os.cpu_count() or 1)]
    elif variant == "ray2":
        base += ["--ray", "--workers", "2", "--threads", "1"]
    return base, out


def one_run(variant: str, archive: Path, work: Path, engine: str) -> dict:
    cmd, target = command(variant, archive, work, engine)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    t0 = time.monotonic()
    with open(target if variant == "headless" else work / "stdout", "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=_env(), cwd=work)
        with TreeMemory(proc.pid) as mem:
            _, err = proc.communicate()
    wall = time.monotonic() - t0
    err_text = err.decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed ({proc.returncode}): {err_text[-1500:]}")
    summary = [line for line in err_text.splitlines() if line.startswith("finterm:")]
    return {"variant": variant, "wall_s": round(wall, 2), "peak_tree_mb": round(mem.peak_total_mb),
            "peak_worker_mb": round(mem.peak_worker_mb) or None, "summary": summary[:2]}


def _labels(variant: str, work: Path):
    import polars as pl

    if variant == "headless":
        rows = [json.loads(x) for x in (work / "headless.jsonl").read_text().splitlines()]
        return pl.DataFrame({"id": [r["id"] for r in rows], "sentiment": [r["sentiment"] for r in rows],
                             "topic": [r["topic"] for r in rows]})
    parts = sorted((work / f"out-{variant}").glob("*.parquet"))
    return pl.concat([pl.read_parquet(p, columns=["id", "sentiment", "topic"]) for p in parts])


def agreement(a, b) -> dict:
    import polars as pl

    j = a.join(b, on="id", how="full", suffix="_b", coalesce=True)
    both = j.filter(pl.col("sentiment").is_not_null() & pl.col("sentiment_b").is_not_null())
    return {"rows_a": a.height, "rows_b": b.height, "ids_unique_b": b["id"].n_unique(), "common": both.height,
            "sentiment_same": int((both["sentiment"] == both["sentiment_b"]).sum()),
            "topic_same": int((both["topic"] == both["topic_b"]).sum())}


def resume_check(archive: Path, work: Path, engine: str, rows: int) -> dict:
    """Kill `finterm score` half way (SIGKILL), run it again; every row once?"""
    cmd, out = command("local", archive, work, engine, name="resume")
    cmd += ["--chunk-rows", "2048"]
    if out.exists():
        shutil.rmtree(out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), cwd=work)
    manifest = out / "_manifest.jsonl"
    done = 0
    while proc.poll() is None:
        if manifest.exists():
            done = sum(json.loads(x).get("read", 0) for x in manifest.read_text().splitlines()[1:] if x.strip().endswith("}"))
            if done >= rows // 2:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.1)
    proc.wait()
    killed_at = done
    r = subprocess.run(cmd, capture_output=True, env=_env(), cwd=work, check=False)
    if r.returncode != 0:
        raise SystemExit(f"resume failed: {r.stderr.decode()[-1500:]}")
    import polars as pl

    got = pl.concat([pl.read_parquet(p, columns=["id"]) for p in sorted(out.glob("*.parquet"))])
    want = pl.read_parquet(archive, columns=["id"])
    return {"killed_after_rows": killed_at, "rows": got.height, "unique_ids": got["id"].n_unique(),
            "every_row_once": got["id"].to_list() == want["id"].to_list(),
            "summary": [x for x in r.stderr.decode().splitlines() if x.startswith("finterm:")][:2], "dir": str(out)}


def table(runs: dict, rows: int) -> list[str]:
    lines = [("| variant | runs | wall s (median) | rows/s end to end | × headless (same round, median) | "
              "peak memory, process tree | peak per Ray worker |"),
             "|---|---|---|---|---|---|---|"]
    for variant in TIMED:
        rs = runs.get(variant)
        if not rs:
            continue
        wall = median([r["wall_s"] for r in rs])
        ratios = [runs["headless"][i]["wall_s"] / r["wall_s"] for i, r in enumerate(rs)
                  if "headless" in runs and i < len(runs["headless"])]
        worker = median([r["peak_worker_mb"] for r in rs if r["peak_worker_mb"]])
        lines.append(f"| {variant} | {len(rs)} | {wall:.1f} | {rows / wall:,.0f} | "
                     f"{median(ratios):.2f} | {median([r['peak_tree_mb'] for r in rs]):,.0f} MB | "
                     f"{f'{worker:,.0f} MB' if worker else '-'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=30_000, help="rows in the archive (default 30,000)")
    p.add_argument("--runs", type=int, default=3, help="rounds of the timed variants (default 3)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--engine", default="auto", choices=("auto", "deepsparse", "onnxruntime"))
    p.add_argument("--out", type=Path, default=RESULTS / "archive_score.json")
    p.add_argument("--keep", type=Path, help="build the archive and outputs here instead of a temporary folder")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}")
    if any(v.startswith("ray") for v in variants):
        from finterm.archive.ray_job import ray_unavailable_reason

        reason = ray_unavailable_reason()
        if reason:
            p.error(reason)

    work = args.keep or Path(tempfile.mkdtemp(prefix="finterm-archive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        archive = work / "archive.parquet"
        data = build_archive(archive, args.rows)
        log(f"archive: {data}")
        timed = [v for v in TIMED if v in variants]
        runs: dict[str, list[dict]] = {v: [] for v in timed}
        agree: dict[str, dict] = {}
        for rnd in range(args.runs):
            order = timed[rnd % len(timed):] + timed[:rnd % len(timed)] if timed else []
            for v in order:
                r = one_run(v, archive, work, args.engine)
                runs[v].append(r)
                log(f"round {rnd + 1} {v}: {r['wall_s']} s, tree {r['peak_tree_mb']} MB")
            if rnd == 0 and "headless" in timed:
                ref = _labels("headless", work)
                for v in timed:
                    if v != "headless":
                        agree[v] = agreement(ref, _labels(v, work))
        resume = resume_check(archive, work, args.engine, data["rows"]) if "resume" in variants else None
        if resume and "headless" in timed:
            agree["resume"] = agreement(_labels("headless", work), _labels("resume", work))
        lines = table(runs, data["rows"])
        result = {
            "machine": machine(), "archive": data, "engine": args.engine,
            "models": {t: model_info(shipped_dir(t), t) for t in ("sentiment", "topic")},
            "runs": runs, "labels_vs_headless": agree, "resume": resume, "table": lines,
        }
        write_json(args.out, result)
        print(f"{data['rows']:,} rows ({data['distinct_model_texts']:,} distinct model texts), engine {args.engine}, "
              f"{os.cpu_count()} cores, load {result['machine']['load_avg_at_start']:.1f} at start\n")
        print("\n".join(lines))
        for v, a in agree.items():
            print(f"\n{v} vs headless: {a['common']:,} rows in both; sentiment same {a['sentiment_same']:,}, "
                  f"topic same {a['topic_same']:,}; {a['rows_b']:,} rows, {a['ids_unique_b']:,} distinct ids")
        if resume:
            print(f"\nresume: killed after {resume['killed_after_rows']:,} rows, then rerun: {resume['rows']:,} rows, "
                  f"{resume['unique_ids']:,} distinct ids, every row once in order: {resume['every_row_once']}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
