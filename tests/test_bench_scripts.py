"""The benchmark scripts run (speed itself is measured by them, never asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if p.name != "common.py")


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, NM_DISABLE_ANALYTICS="1"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_bench_script_parses_and_answers_help(script):
    out = run(str(script), "--help", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


def test_compile_cost_scores_every_tweet_and_writes_its_table(tmp_path):
    replay = tmp_path / "replay.jsonl"
    texts = ["$AAPL beats earnings, shares up 5%", "Fed holds rates steady", "$TSLA recalls 2,000 cars"]
    replay.write_text("".join(json.dumps({"id": str(i), "created_at": f"2014-10-01T00:00:{i:02d}Z", "user": "u",
                                          "text": f"{texts[i % 3]} #{i}"}) + "\n" for i in range(40)))
    out_json = tmp_path / "cc.json"
    out = run("bench/compile_cost.py", "--runs", "1", "--variants", "ort", "--file", str(replay), "--out", str(out_json))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| ort |" in out.stdout and "40 tweets (40 distinct texts scored)" in out.stdout
    data = json.loads(out_json.read_text())
    (r,) = data["runs"]["ort"]
    assert r["tweets"] == 40 and r["rate"] > 0 and r["compile_s_sum"] == 0
    bad = run("bench/compile_cost.py", "--variants", "nope", "--out", str(out_json))
    assert bad.returncode == 2 and "unknown variant(s) nope" in bad.stderr
