"""finterm's settings: plain dataclasses loaded from one YAML file, checked key by key.

A typo in a config file should stop the program with one line naming the key and the file,
not be silently ignored, so every key is declared here with its type and default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from finterm.errors import ConfigError
from finterm.text import normalize_tickers

__all__ = ["Config", "ConfigError", "load_config", "find_config", "config_from_dict"]

ENGINES = ("auto", "deepsparse", "onnxruntime")
THEMES = ("dark", "light", "contrast")
#: Field metadata flag: a list key that also takes one string of space/comma separated words.
SPLIT_WORDS = "split_words"


@dataclass
class ModelsConfig:
    #: Model folders. A task's own folder wins for that task; else `model`, one folder with a
    #: head per task; None everywhere: assets/models/finterm when installed, else assets/models/<task>.
    sentiment: str | None = None
    topic: str | None = None
    model: str | None = None


@dataclass
class BatchingConfig:
    batch_size: int = 16
    #: 0: a batch is whatever waits when the scorer is free (one tweet when quiet, fuller
    #: batches under load); waiting to fill a batch only adds latency (bench/e2e.py).
    max_wait_ms: float = 0.0


@dataclass
class UIConfig:
    #: Rolling window in minutes; "session" (or null) for the whole session.
    window_minutes: int | str | None = 60
    newest_first: bool = True
    theme: str = "dark"
    feed_max: int = 1000
    #: Recording (`record:` / --record) to a file that has rows: the last hours of it are loaded
    #: into the panels and charts at start, marked as history (0: none).
    history_hours: float = 4.0

    def window(self) -> int | None:
        """`window_minutes` as minutes, or None for the whole session ("session", null or 0)."""
        wm = self.window_minutes
        return wm if isinstance(wm, int) and wm > 0 else None


@dataclass
class XConfig:
    bearer_token: str | None = field(default=None, repr=False)
    api_base: str = "https://api.x.com/2"
    rules: list[str] = field(default_factory=list)
    poll_interval_s: float = 60.0


@dataclass
class BlueskyConfig:
    #: Jetstream's WebSocket endpoint (a public relay; jetstream1/2, us-east/us-west);
    #: $FINTERM_BLUESKY_URL wins. `wantedCollections=app.bsky.feed.post` is added when missing.
    url: str = "wss://jetstream2.us-east.bsky.network/subscribe"


@dataclass
class StocktwitsConfig:
    #: $FINTERM_STOCKTWITS_API_BASE wins.
    api_base: str = "https://api.stocktwits.com/api/2"
    #: Requests spread over an hour; StockTwits allows about 200 an hour per address.
    requests_per_hour: int = 150
    #: Symbols polled besides the watchlist; a string "AAPL TSLA" is read as a list.
    symbols: list[str] = field(default_factory=list, metadata={SPLIT_WORDS: True})


@dataclass
class SourcesConfig:
    #: The live sources `finterm` uses without --source (e.g. [bluesky, stocktwits]); empty:
    #: X when a token is set, else Bluesky and StockTwits (they need no account).
    use: list[str] = field(default_factory=list, metadata={SPLIT_WORDS: True})
    bluesky: BlueskyConfig = field(default_factory=BlueskyConfig)
    stocktwits: StocktwitsConfig = field(default_factory=StocktwitsConfig)


@dataclass
class AlertsConfig:
    #: Ring the terminal bell, and show a toast, for each alert (the monitor only).
    bell: bool = True
    toast: bool = True
    #: Run for each alert, through the shell, with the alert's JSON on stdin (e.g. notify-send, curl).
    command: str | None = None
    command_timeout_s: float = 10.0
    #: The rules (kinds swing, volume, topic), checked key by key by finterm.alerts.rules.
    rules: list[dict] = field(default_factory=list)


@dataclass
class DemoConfig:
    seed: int | None = None
    #: Mean tweets per second outside news bursts.
    rate: float = 4.0


@dataclass
class Config:
    engine: str = "auto"
    models: ModelsConfig = field(default_factory=ModelsConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    #: Tickers; a string "AAPL TSLA" is read as a list (SPLIT_WORDS).
    watchlist: list[str] = field(default_factory=list, metadata={SPLIT_WORDS: True})
    x: XConfig = field(default_factory=XConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    record: str | None = None
    log_file: str | None = None
    labels_file: str | None = None
    #: The file this config came from (None: built-in defaults); not a key in the file.
    path: Path | None = field(default=None, compare=False)


_NOT_KEYS = {"path"}


def find_config(path: str | Path | None = None) -> Path | None:
    """The config file to use: `path`, $FINTERM_CONFIG, ~/.config/finterm/config.yaml, ./config.yaml.

    An explicitly named file (argument or environment) must exist; the two usual places are
    only used when present.
    """
    for explicit, origin in ((path, "--config"), (os.environ.get("FINTERM_CONFIG"), "$FINTERM_CONFIG")):
        if explicit:
            p = Path(explicit).expanduser()
            if not p.is_file():
                raise ConfigError(f"config file {p} (from {origin}) does not exist")
            return p
    for p in (Path.home() / ".config" / "finterm" / "config.yaml", Path("config.yaml").absolute()):
        if p.is_file():
            return p
    return None


def load_config(path: str | Path | None = None) -> Config:
    """Load and check the config found by `find_config`; defaults when there is none."""
    p = find_config(path)
    if p is None:
        return Config()
    import yaml

    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p} is not valid YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.__class__.__name__}") from None
    cfg = config_from_dict(data or {}, str(p))
    cfg.path = p
    return cfg


def config_from_dict(data: object, origin: str = "config") -> Config:
    """A Config from parsed YAML; unknown or ill-typed keys raise ConfigError naming both."""
    cfg = _build(Config, data, "", origin)
    _check_values(cfg, origin)
    return cfg


def _build(cls: type, data: object, prefix: str, origin: str):
    if not isinstance(data, dict):
        what = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
        raise ConfigError(f"{what} in {origin} must be a mapping of keys, not {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = set(fields) - _NOT_KEYS
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown key '{dotted}' in {origin} (known: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(hints[key], value, dotted, origin, fields[key].metadata.get(SPLIT_WORDS, False))
    return cls(**kwargs)


def _coerce(tp, value, key: str, origin: str, split_words: bool = False):
    if dataclasses.is_dataclass(tp):
        return _build(tp, {} if value is None else value, key + ".", origin)
    options = typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,)
    for opt in options:
        ok, v = _fits(opt, value, split_words)
        if ok:
            return v
    want = " or ".join(_name(o) for o in options)
    shown = "" if "token" in key else f" {value!r:.60}"  # never echo a secret
    raise ConfigError(f"key '{key}' in {origin} must be {want}, not {_kind(value)}{shown}")


def _fits(tp, value, split_words: bool = False) -> tuple[bool, object]:
    if tp is type(None):
        return value is None, None
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool), float(value) if isinstance(value, (int, float)) else value
    if tp is str:
        return isinstance(value, str), value
    if typing.get_origin(tp) is list and typing.get_args(tp) == (dict,):  # alerts.rules: checked by their owner
        if value is None:
            return True, []
        return isinstance(value, list), value  # each item is checked (and named) by the rules parser
    if typing.get_origin(tp) is list:
        if value is None:
            return True, []
        if isinstance(value, str):  # "AAPL TSLA" is as good as a list; one rule stays one rule
            value = value.replace(",", " ").split() if split_words else [value]
        return isinstance(value, list) and all(isinstance(v, str) for v in value), list(value or [])
    return False, value


def _name(tp) -> str:
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) is list:
        return "a list of mappings" if typing.get_args(tp) == (dict,) else "a list of strings"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def _kind(value) -> str:
    return "null" if value is None else type(value).__name__


def _check_values(cfg: Config, origin: str) -> None:
    def bad(key: str, why: str):
        raise ConfigError(f"key '{key}' in {origin} {why}")

    if cfg.engine not in ENGINES:
        bad("engine", f"must be one of {', '.join(ENGINES)}, not {cfg.engine!r}")
    if cfg.batching.batch_size < 1:
        bad("batching.batch_size", "must be at least 1")
    if cfg.batching.max_wait_ms < 0:
        bad("batching.max_wait_ms", "must not be negative")
    wm = cfg.ui.window_minutes
    if isinstance(wm, str) and wm.strip().lower() != "session":
        bad("ui.window_minutes", f"must be a number of minutes or 'session', not {wm!r}")
    if isinstance(wm, int) and wm < 0:
        bad("ui.window_minutes", "must not be negative")
    if cfg.ui.theme.removeprefix("finterm-") not in THEMES:
        bad("ui.theme", f"must be one of {', '.join(THEMES)}, not {cfg.ui.theme!r}")
    if cfg.ui.feed_max < 1:
        bad("ui.feed_max", "must be at least 1")
    if cfg.x.poll_interval_s <= 0:
        bad("x.poll_interval_s", "must be positive")
    if cfg.demo.rate <= 0:
        bad("demo.rate", "must be positive")
    _check_sources(cfg.sources, bad)
    if cfg.ui.history_hours < 0:
        bad("ui.history_hours", "must not be negative")
    if cfg.alerts.command is not None and not cfg.alerts.command.strip():
        bad("alerts.command", "is empty (leave it out, or null, for no command)")
    if cfg.alerts.command_timeout_s <= 0:
        bad("alerts.command_timeout_s", "must be positive")
    from finterm.alerts.rules import parse_rules  # the rules' own checks: one line naming the rule

    parse_rules(cfg.alerts.rules, origin)
    cfg.watchlist = list(normalize_tickers(cfg.watchlist))


#: What `sources.use` may name: the live sources (demo and replay have their own flags).
LIVE_SOURCES = ("x", "bluesky", "stocktwits")


def _check_sources(s: SourcesConfig, bad) -> None:
    s.use = [n.strip().lower() for n in s.use if n.strip()]
    for name in s.use:
        if name not in LIVE_SOURCES:
            bad("sources.use", f"names live sources ({', '.join(LIVE_SOURCES)}), not {name!r}")
    if not s.bluesky.url.strip().lower().startswith(("ws://", "wss://")):
        bad("sources.bluesky.url", f"must be a ws:// or wss:// URL, not {s.bluesky.url!r:.60}")
    if not s.stocktwits.api_base.strip().lower().startswith(("http://", "https://")):
        bad("sources.stocktwits.api_base", f"must be an http(s) URL, not {s.stocktwits.api_base!r:.60}")
    if s.stocktwits.requests_per_hour < 1:
        bad("sources.stocktwits.requests_per_hour", "must be at least 1")
    s.stocktwits.symbols = list(normalize_tickers(s.stocktwits.symbols))
