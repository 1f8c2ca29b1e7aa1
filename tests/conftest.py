"""Shared fixtures: tiny real model folders and a runner for the real `finterm` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.modelkit import make_sentiment_folder, make_topic_folder

REPO = Path(__file__).resolve().parent.parent
SHARED_REPLAY = REPO.parent / "shared" / "data" / "replay"
STOCKNET_CSV = SHARED_REPLAY / "stocknet_tweets_2014-10.csv"
STOCKNET_JSONL = SHARED_REPLAY / "stocknet_tweets_2014-10.jsonl"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> tuple[Path, Path]:
    """(sentiment folder, topic folder): real ONNX classifiers of a few KB."""
    root = tmp_path_factory.mktemp("models")
    return make_sentiment_folder(root / "sentiment"), make_topic_folder(root / "topic")


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """An environment with no user config, no X token, and logs inside tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("FINTERM_CONFIG", "X_BEARER_TOKEN", "XDG_STATE_HOME")}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), FINTERM_LOG=str(tmp_path / "finterm.log"), NM_DISABLE_ANALYTICS="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


@pytest.fixture
def model_args(tiny_models) -> list[str]:
    sent, topic = tiny_models
    return ["--sentiment-model", str(sent), "--topic-model", str(topic), "--engine", "onnxruntime"]


@pytest.fixture
def finterm(tmp_path, cli_env):
    """Run `python -m finterm ARGS` in tmp_path (no ./config.yaml there); returns CompletedProcess."""

    def run(*args: str, timeout: float = 120, input: bytes | None = None, env: dict | None = None):
        return subprocess.run([sys.executable, "-m", "finterm", *map(str, args)], cwd=tmp_path,
                              env=env or cli_env, capture_output=True, timeout=timeout, input=input)

    return run


def popen_finterm(args, cwd, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "finterm", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
