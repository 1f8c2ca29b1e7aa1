"""Shared helpers for the benchmark scripts: data, model provenance, machine facts, JSON."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")  # before anything imports deepsparse

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
VALID = {
    "sentiment": SHARED / "twitter-financial-news" / "sent_valid.csv",
    "topic": SHARED / "twitter-financial-news" / "topic_valid.csv",
}
REPLAY = SHARED / "replay" / "stocknet_tweets_2014-10.jsonl"
RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "bench" / ".cache"
TASKS = ("sentiment", "topic")


def shipped_dir(task: str) -> Path:
    return ROOT / "assets" / "models" / task


def teacher_checkpoint(task: str) -> Path:
    return ROOT / "runs" / task / "teacher"


def valid_texts(task: str, n: int | None = None, seed: int = 0) -> list[str]:
    """Validation tweets as the classifier sees them (clean_text + model_text), a seeded sample of n."""
    from finterm.text import clean_text, model_text

    with VALID[task].open(newline="", encoding="utf-8") as f:
        texts = [model_text(clean_text(r["text"])) for r in csv.DictReader(f)]
    if n and n < len(texts):
        texts = random.Random(seed).sample(texts, n)
    return texts


def token_lengths(tokenizer_json: Path, texts: list[str]) -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(max_length=512)
    return [len(e.ids) for e in tok.encode_batch(texts)]


def sha256_16(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def model_info(folder: Path, task: str) -> dict:
    """What a figure was measured with: path, name, size, checksum, shipped or stand-in."""
    folder = Path(folder).resolve()
    onnx_path = folder / "model.onnx"
    cfg = {}
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        pass
    return {
        "path": str(folder),
        "name": cfg.get("finterm_name") or folder.name,
        "size_mb": round(onnx_path.stat().st_size / 1e6, 1) if onnx_path.exists() else None,
        "sha256_16": sha256_16(onnx_path) if onnx_path.exists() else None,
        "shipped": folder == shipped_dir(task).resolve(),
    }


def _version(mod: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(mod)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    mem_gb = None
    try:
        kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")).split()[1])
        mem_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    commit = None
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except OSError:
        pass
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512": "avx512f" in flags,
        "vnni": "avx512_vnni" in flags or "avx_vnni" in flags,
        "mem_gb": mem_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {m: _version(m) for m in ("deepsparse", "onnxruntime", "torch", "transformers", "tokenizers",
                                               "numpy", "textual")},
        "commit": commit,
        "load_avg_at_start": os.getloadavg()[0],
    }


def median(xs):
    return statistics.median(xs) if xs else None


from finterm.stats import percentile  # noqa: E402,F401  (one definition, shared with the app)


def repo_relative(text: str) -> str:
    """Paths as a reader of the repository sees them: relative to its root, ../shared for the
    data beside it (results and BENCHMARKS.md never carry this machine's absolute paths)."""
    return text.replace(str(ROOT.parent / "shared"), "../shared").replace(str(ROOT) + "/", "")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repo_relative(json.dumps(data, indent=1, default=str)) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {datetime.now().strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()
