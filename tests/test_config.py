"""Config: search order, defaults, the shipped config.yaml, and one-line errors for bad keys."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from finterm.config import Config, config_from_dict, find_config, load_config
from finterm.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $FINTERM_CONFIG, an empty home, and a cwd without config.yaml."""
    monkeypatch.delenv("FINTERM_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_file(isolated):
    assert find_config() is None
    cfg = load_config()
    assert cfg == Config()
    assert cfg.engine == "auto" and cfg.batching.batch_size == 16 and cfg.ui.window_minutes == 60


def test_search_order(isolated, monkeypatch):
    home_cfg = write(isolated / "home" / ".config" / "finterm" / "config.yaml", "engine: onnxruntime\n")
    cwd_cfg = write(isolated / "work" / "config.yaml", "engine: deepsparse\n")
    env_cfg = write(isolated / "env.yaml", "batching: {batch_size: 4}\n")
    arg_cfg = write(isolated / "arg.yaml", "batching: {batch_size: 8}\n")
    assert find_config() == home_cfg
    home_cfg.unlink()
    assert find_config() == cwd_cfg
    monkeypatch.setenv("FINTERM_CONFIG", str(env_cfg))
    assert load_config().batching.batch_size == 4
    assert load_config(arg_cfg).batching.batch_size == 8
    assert load_config(arg_cfg).path == arg_cfg


def test_named_file_must_exist(isolated, monkeypatch):
    with pytest.raises(ConfigError, match=r"nope\.yaml.*--config"):
        load_config(isolated / "nope.yaml")
    monkeypatch.setenv("FINTERM_CONFIG", str(isolated / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"gone\.yaml.*FINTERM_CONFIG"):
        load_config()


def test_values_are_read_and_typed(isolated):
    cfg = load_config(write(isolated / "c.yaml", """
engine: onnxruntime
models: {sentiment: /m/s, topic: /m/t}
batching: {batch_size: 32, max_wait_ms: 10}
ui: {window_minutes: session, newest_first: false, theme: light, feed_max: 50}
watchlist: "aapl, $tsla"
x: {rules: ["$AAPL lang:en"], poll_interval_s: 30}
demo: {seed: 7, rate: 12.5}
record: out.parquet
"""))
    assert cfg.models.sentiment == "/m/s" and cfg.batching.max_wait_ms == 10.0
    assert cfg.ui.window_minutes == "session" and cfg.ui.newest_first is False
    assert cfg.watchlist == ["AAPL", "TSLA"]
    assert cfg.x.rules == ["$AAPL lang:en"] and cfg.demo.seed == 7 and cfg.record == "out.parquet"


def _all_keys(cls, prefix=""):
    for f in dataclasses.fields(cls):
        if f.name == "path":
            continue
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            yield from _all_keys(f.default_factory, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


def test_shipped_config_documents_every_key_with_the_defaults():
    shipped = REPO / "config.yaml"
    cfg = load_config(shipped)
    assert dataclasses.replace(cfg, path=None, watchlist=[]) == Config()
    text = shipped.read_text()
    for key in _all_keys(Config):
        leaf = key.rsplit(".", 1)[-1]
        assert re.search(rf"^\s*{re.escape(leaf)}:", text, re.M), f"{key} missing from config.yaml"
    # every key line is preceded somewhere by comments: the file explains itself
    assert text.count("\n#") + text.count("\n  #") >= 15


@pytest.mark.parametrize("data, key, words", [
    ({"enigne": "auto"}, "enigne", "unknown key"),
    ({"ui": {"feedmax": 3}}, "ui.feedmax", "unknown key"),
    ({"batching": {"batch_size": "big"}}, "batching.batch_size", "an integer"),
    ({"batching": {"batch_size": 0}}, "batching.batch_size", "at least 1"),
    ({"ui": {"newest_first": "yes"}}, "ui.newest_first", "true/false"),
    ({"engine": "gpu"}, "engine", "auto, deepsparse, onnxruntime"),
    ({"ui": 5}, "ui", "mapping"),
    ({"x": {"rules": [1, 2]}}, "x.rules", "list of strings"),
    ({"ui": {"window_minutes": "forever"}}, "ui.window_minutes", "session"),
    ({"ui": {"theme": "neon"}}, "ui.theme", "dark"),
    ({"demo": {"rate": -1}}, "demo.rate", "positive"),
])
def test_bad_keys_name_key_and_file(data, key, words):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data, "/etc/f.yaml")
    msg = e.value.message
    assert f"'{key}'" in msg and "/etc/f.yaml" in msg and words in msg and "\n" not in msg
    assert e.value.exit_code == 2


def test_token_value_never_echoed():
    with pytest.raises(ConfigError) as e:
        config_from_dict({"x": {"bearer_token": 1234567890123}}, "c.yaml")
    assert "1234567890123" not in e.value.message and "x.bearer_token" in e.value.message


def test_token_not_in_repr():
    assert "s3cret" not in repr(config_from_dict({"x": {"bearer_token": "s3cret"}}))


def test_cli_reports_bad_config(finterm, tmp_path):
    cfg = write(tmp_path / "bad.yaml", "ui:\n  feedmax: 3\n")
    r = finterm("--demo", "--headless", "--config", cfg)
    err = r.stderr.decode()
    assert r.returncode == 2
    assert err.startswith("finterm: unknown key 'ui.feedmax'") and str(cfg) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_cli_reports_invalid_yaml(finterm, tmp_path, cli_env):
    cfg = write(tmp_path / "broken.yaml", "ui: [1, 2\n")
    r = finterm("--demo", "--headless", env={**cli_env, "FINTERM_CONFIG": str(cfg)})
    err = r.stderr.decode()
    assert r.returncode == 2 and "not valid YAML" in err and "broken.yaml" in err and "Traceback" not in err


def test_one_string_is_one_rule_but_a_watchlist_string_is_split():
    from finterm.config import config_from_dict

    cfg = config_from_dict({"watchlist": "aapl, $tsla NVDA", "x": {"rules": "$AAPL OR $TSLA lang:en"}})
    assert cfg.watchlist == ["AAPL", "TSLA", "NVDA"]
    assert cfg.x.rules == ["$AAPL OR $TSLA lang:en"]
