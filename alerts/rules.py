"""Alert rules: the `alerts.rules` list of config.yaml, parsed and checked key by key.

Three kinds (README, "Alerts"):

- `swing`: the net sentiment ((bullish - bearish) / posts) of a ticker over `window` moves by
  at least `delta` against the window just before it; both windows need `min_posts` posts.
- `volume`: posts about a ticker in `window` reach `factor` x its trailing average per window
  (over `baseline` before the window; the average is at least `floor`), and `min_posts`.
- `topic`: at least `count` posts of the given `topics` about a ticker in `window`.

Every rule has a `cooldown` per ticker (default: its window): after it fires for a ticker it
stays quiet for that ticker until the cooldown has passed in post time, so one move gives one
alert. A rule that cannot be read stops finterm at start with one line naming it (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from finterm.errors import ConfigError
from finterm.text import normalize_tickers

KINDS = ("swing", "volume", "topic")
#: Keys every rule may have, and the keys of each kind.
COMMON_KEYS = ("name", "kind", "tickers", "window", "cooldown", "min_posts")
KIND_KEYS = {
    "swing": ("delta",),
    "volume": ("factor", "baseline", "floor"),
    "topic": ("topics", "count"),
}
REQUIRED = {"swing": ("delta",), "volume": ("factor",), "topic": ("topics", "count")}
DEFAULT_MIN_POSTS = {"swing": 10, "volume": 10, "topic": 0}
#: A volume rule's trailing period, in windows, when `baseline` is not given.
DEFAULT_BASELINE_WINDOWS = 4
DEFAULT_FLOOR = 1.0
#: A window longer than this is surely a typo (a week, in seconds).
MAX_WINDOW_S = 7 * 24 * 3600

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


@dataclass(frozen=True)
class Rule:
    """One checked rule. Durations are seconds; `tickers` None means every ticker ("*")."""

    name: str
    kind: str
    tickers: tuple[str, ...] | None
    window_s: float
    cooldown_s: float
    min_posts: int
    #: The window as the config wrote it ("30m"), for the alert's `window` field.
    window: str
    delta: float = 0.0
    factor: float = 0.0
    baseline_s: float = 0.0
    floor: float = DEFAULT_FLOOR
    topics: tuple[str, ...] = ()
    count: int = 0

    def applies_to(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers

    @property
    def horizon_s(self) -> float:
        """How far back from "now" (post time) the rule looks."""
        if self.kind == "volume":
            return self.window_s + self.baseline_s
        return 2 * self.window_s  # swing and topic compare with the window before


def parse_duration(value: object) -> float:
    """Seconds from `90s`, `30m`, `2h`, `1d` (a bare number is minutes); ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return float(value) * 60.0
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    m = _DURATION.match(value.lower())
    if not m or (m.group(2) and m.group(2) not in _UNITS):
        raise ValueError(f"{value!r} is not a duration like 90s, 30m, 2h or 1d")
    return float(m.group(1)) * _UNITS[m.group(2) or "m"]


def format_duration(seconds: float) -> str:
    """`1800` -> `30m`, `7200` -> `2h`, `90` -> `90s`."""
    s = int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def parse_rules(raw: Iterable[object], origin: str = "config", topics: Iterable[str] | None = None) -> list[Rule]:
    """Check every rule of `alerts.rules`; ConfigError (one line naming the rule) on the first bad one.

    `topics`: the topic model's labels; when given, a topic rule's topics must be among them
    (matched without regard to case, kept in the model's spelling).
    """
    rules: list[Rule] = []
    names: set[str] = set()
    known_topics = list(topics) if topics is not None else None
    for i, item in enumerate(raw or []):
        rule = _parse_one(item, i, origin, known_topics)
        if rule.name in names:
            raise ConfigError(f"alert rule '{rule.name}' in {origin}: the name is used twice; give each rule its own")
        names.add(rule.name)
        rules.append(rule)
    return rules


def check_topics(rules: Iterable[Rule], topics: Iterable[str], origin: str = "config") -> list[Rule]:
    """The rules with their topics in the model's spelling; ConfigError for a topic the model lacks."""
    known = list(topics)
    out = []
    for r in rules:
        if r.kind == "topic":
            fixed = tuple(_topic(t, known, f"alert rule '{r.name}' in {origin}") for t in r.topics)
            r = _replace(r, topics=fixed)
        out.append(r)
    return out


def _replace(rule: Rule, **changes) -> Rule:
    from dataclasses import replace

    return replace(rule, **changes)


def _topic(name: str, known: list[str], where: str) -> str:
    for k in known:
        if k.lower() == name.strip().lower():
            return k
    raise ConfigError(f"{where}: unknown topic {name!r} (the topic model knows: {', '.join(known)})")


def _parse_one(item: object, i: int, origin: str, topics: list[str] | None) -> Rule:
    label = f"alert rule {i + 1}"
    if not isinstance(item, dict):
        raise ConfigError(f"{label} in {origin} must be a mapping of keys (name, kind, window, ...), "
                          f"not {type(item).__name__}")
    name = item.get("name")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{label} in {origin}: 'name' must be a non-empty string")
        label = f"alert rule '{name.strip()}'"
    where = f"{label} in {origin}"

    def bad(why: str):
        raise ConfigError(f"{where}: {why}")

    kind = item.get("kind")
    if kind is None:
        bad(f"no 'kind' (one of {', '.join(KINDS)})")
    if not isinstance(kind, str) or kind.strip().lower() not in KINDS:
        bad(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    kind = kind.strip().lower()
    allowed = COMMON_KEYS + KIND_KEYS[kind]
    for key in item:
        if key not in allowed:
            other = [k for k, keys in KIND_KEYS.items() if key in keys]
            hint = f" (that key is for {other[0]} rules)" if other else ""
            bad(f"unknown key {key!r} for a {kind} rule{hint} (known: {', '.join(allowed)})")
    for key in REQUIRED[kind]:
        if item.get(key) is None:
            bad(f"a {kind} rule needs '{key}'")

    def number(key: str, default, *, integer: bool = False):
        v = item.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
            bad(f"'{key}' must be {'a whole number' if integer else 'a number'}, not {v!r:.40}")
        return v

    def duration(key: str, default):
        v = item.get(key, default)
        try:
            return parse_duration(v)
        except ValueError as exc:
            bad(f"'{key}': {exc}")

    window_raw = item.get("window")
    if window_raw is None:
        bad("no 'window' (how far back it looks, e.g. 30m or 2h)")
    window_s = duration("window", None)
    if window_s <= 0:
        bad(f"'window' must be positive, not {window_raw!r}")
    if window_s > MAX_WINDOW_S:
        bad(f"'window' of {window_raw!r} is longer than a week")
    window = window_raw.strip() if isinstance(window_raw, str) else format_duration(window_s)
    cooldown_s = duration("cooldown", window_s / 60.0)  # a bare number is minutes
    if cooldown_s < 0:
        bad(f"'cooldown' must not be negative, not {item.get('cooldown')!r}")
    min_posts = number("min_posts", DEFAULT_MIN_POSTS[kind], integer=True)
    if min_posts < 0:
        bad("'min_posts' must not be negative")
    tickers = _tickers(item.get("tickers", "*"), bad)
    rule = dict(name=(name or f"{kind}-{i + 1}").strip(), kind=kind, tickers=tickers, window_s=window_s,
                cooldown_s=cooldown_s, min_posts=min_posts, window=window)
    if kind == "swing":
        delta = number("delta", None)
        if not 0 < delta <= 2:
            bad(f"'delta' must be above 0 and at most 2 (net sentiment runs from -1 to 1), not {delta!r}")
        rule["delta"] = float(delta)
    elif kind == "volume":
        factor = number("factor", None)
        if not factor > 0:
            bad(f"'factor' must be positive, not {factor!r}")
        baseline_s = duration("baseline", DEFAULT_BASELINE_WINDOWS * window_s / 60.0)
        if baseline_s < window_s:
            bad(f"'baseline' must be at least the window ({window}), not {item.get('baseline')!r}")
        if baseline_s > MAX_WINDOW_S * 4:
            bad(f"'baseline' of {item.get('baseline')!r} is longer than four weeks")
        floor = number("floor", DEFAULT_FLOOR)
        if floor < 0:
            bad("'floor' must not be negative")
        rule.update(factor=float(factor), baseline_s=baseline_s, floor=float(floor))
    else:
        raw_topics = item.get("topics")
        if isinstance(raw_topics, str):
            raw_topics = [raw_topics]  # one topic; "M&A | Investments" has spaces, so no splitting
        if not isinstance(raw_topics, list) or not raw_topics or not all(isinstance(t, str) and t.strip() for t in raw_topics):
            bad("'topics' must be a list of topic names, e.g. [\"M&A | Investments\"]")
        names = tuple(dict.fromkeys(t.strip() for t in raw_topics))
        if topics is not None:
            names = tuple(_topic(t, topics, where) for t in names)
        count = number("count", None, integer=True)
        if count < 1:
            bad("'count' must be at least 1")
        rule.update(topics=names, count=count)
    return Rule(**rule)


def _tickers(value: object, bad) -> tuple[str, ...] | None:
    if value is None or value == "*" or value == ["*"]:
        return None
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        bad(f"'tickers' must be \"*\" (every ticker), a ticker or a list of tickers, not {value!r:.40}")
    if "*" in value:
        bad("'tickers' is either \"*\" or a list of tickers, not both")
    ticks = normalize_tickers(value)
    if not ticks:
        bad("'tickers' names no ticker")
    return ticks
