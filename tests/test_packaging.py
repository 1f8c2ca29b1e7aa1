"""A plain (non-editable) install carries the shipped models: `pip install .` scores out of the box."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_wheel_ships_the_model_folders_and_finds_them_when_installed(tmp_path):
    src = tmp_path / "src"  # a copy: setuptools leaves build/ and egg-info in the tree it builds
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", ".cache", "*.egg-info",
                                                             "__pycache__", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "wheel"), str(src)], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "wheel").glob("finterm-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for task in ("sentiment", "topic"):
        assert {f"finterm/models/{task}/{f}" for f in ("model.onnx", "config.json", "tokenizer.json")} <= names
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import finterm\n"
            "from finterm.engine.model_folder import ModelFolder, default_model_dir\n"
            "assert finterm.__file__.startswith(sys.argv[1]), finterm.__file__\n"
            "for task in ('sentiment', 'topic'):\n"
            "    m = ModelFolder.load(default_model_dir(task), task)\n"
            "    print(task, m.path, len(m.labels))\n")
    run = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"sentiment {target}/finterm/models/sentiment") and lines[0].endswith(" 3")
    assert lines[1].startswith(f"topic {target}/finterm/models/topic") and lines[1].endswith(" 20")
