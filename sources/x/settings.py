"""The live X source's settings, taken from the config's `x:` section and the environment.

Kept as a plain dataclass of its own so the source does not depend on the config module's
shape, and so tests can shrink every delay. The bearer token is excluded from repr() and
from describe(): it must never reach a log, a status bar or a recording.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields
from typing import Mapping
from urllib.parse import urlsplit

from finterm.errors import ConfigError
from finterm.text import normalize_tickers

#: X's API host; tweepy itself still uses https://api.twitter.com, which serves the same API.
DEFAULT_API_BASE = "https://api.x.com"

TOKEN_ENV = "X_BEARER_TOKEN"
API_BASE_ENV = "FINTERM_X_API_BASE"


@dataclass
class XSettings:
    """Everything XStreamSource needs; defaults follow X's reconnect guidance."""

    bearer_token: str | None = field(default=None, repr=False)
    #: Scheme + host (+ optional path prefix) in front of `/2/...`; a trailing `/2` is dropped.
    api_base: str = DEFAULT_API_BASE
    #: Upper-case tickers; each becomes a `$TICKER` cashtag in the rules.
    watchlist: list[str] = field(default_factory=list)
    #: Extra filtered-stream rules, used as written.
    rules: list[str] = field(default_factory=list)
    #: Seconds between recent-search polls when the stream is not available (HTTP 403).
    poll_interval_s: float = 60.0
    #: Longest rule / search query the account's access level accepts (512 on the lower tiers).
    max_rule_length: int = 512
    #: Leave retweets out: they repeat their original's text and would be scored again.
    exclude_retweets: bool = True
    #: First wait after an HTTP error (5xx and the like); doubled each time up to backoff_max_s.
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 320.0
    #: Wait step after a network error or dropped connection; grows linearly up to 16 s.
    network_backoff_s: float = 0.25
    network_backoff_max_s: float = 16.0
    #: First wait after HTTP 429 when the response has no x-rate-limit-reset; doubled each time.
    rate_limit_wait_s: float = 60.0
    #: Upper bound on any single wait, x-rate-limit-reset included.
    max_wait_s: float = 900.0
    #: A stream that sends nothing, not even its 20 s keep-alive, for this long is reconnected.
    read_timeout_s: float = 30.0
    #: Timeout for the rules and search requests.
    request_timeout_s: float = 30.0
    #: How many recent tweet ids are remembered to drop tweets sent again after a reconnect.
    dedup_size: int = 50_000
    #: Most pages fetched per poll (100 tweets each) before moving since_id on.
    max_pages_per_poll: int = 5

    def __post_init__(self) -> None:
        self.api_base = normalize_api_base(self.api_base)
        self.watchlist = list(normalize_tickers(self.watchlist))
        self.rules = [r.strip() for r in self.rules if r and r.strip()]
        if not self.poll_interval_s > 0:
            raise ConfigError("x.poll_interval_s must be positive")
        if self.max_rule_length < 16 or self.dedup_size < 1 or self.max_pages_per_poll < 1:
            raise ConfigError("x.max_rule_length, dedup_size and max_pages_per_poll are too small")
        waits = ("backoff_initial_s", "backoff_max_s", "network_backoff_s", "network_backoff_max_s",
                 "rate_limit_wait_s", "max_wait_s", "read_timeout_s", "request_timeout_s")
        for name in waits:
            if not getattr(self, name) >= 0:
                raise ConfigError(f"x.{name} must not be negative")

    @classmethod
    def from_config(cls, config: object, env: Mapping[str, str] | None = None, **overrides) -> "XSettings":
        """Settings from a finterm Config (or a dict of the same shape) and the environment.

        `$X_BEARER_TOKEN` and `$FINTERM_X_API_BASE` win over the file, so a one-off run (or a
        test server) needs no config edit. `overrides` set any other field (tests, CLI).
        """
        env = os.environ if env is None else env
        x = _get(config, "x") or {}
        kwargs = {
            "bearer_token": env.get(TOKEN_ENV) or _get(x, "bearer_token") or None,
            "api_base": env.get(API_BASE_ENV) or _get(x, "api_base") or DEFAULT_API_BASE,
            "watchlist": list(_listish(_get(config, "watchlist"))),
            "rules": _rules(_get(x, "rules")),
        }
        # Any other XSettings field the `x:` section has (poll_interval_s, and e.g.
        # max_rule_length or backoff_initial_s should the config add them) is taken as is.
        for f in fields(cls):
            value = _get(x, f.name)
            if f.name not in kwargs and value is not None:
                kwargs[f.name] = value
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def host(self) -> str:
        """The API host for messages (never with credentials)."""
        return urlsplit(self.api_base).netloc or self.api_base

    def require_token(self) -> str:
        """The token, or a one-line ConfigError saying where to put one."""
        if not self.bearer_token:
            raise ConfigError(
                f"no X bearer token: set ${TOKEN_ENV} or x.bearer_token in config.yaml "
                "(or run `finterm --demo`, or `finterm --replay FILE`)"
            )
        return self.bearer_token

    def is_plain_http_remote(self) -> bool:
        """True when the token would travel unencrypted to a host other than this machine."""
        parts = urlsplit(self.api_base)
        if parts.scheme != "http":
            return False
        host = parts.hostname or ""
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True


def normalize_api_base(value: str) -> str:
    """`https://api.x.com/2/` -> `https://api.x.com`; a bare host gets https://."""
    base = (value or DEFAULT_API_BASE).strip().rstrip("/")
    if "://" not in base:
        base = "https://" + base
    if base.endswith("/2"):
        base = base[:-2]
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"x.api_base must be an http(s) URL, not {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("x.api_base must be a plain URL (no credentials, query or fragment)")
    return base


def _get(obj: object, key: str):
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _rules(value) -> list[str]:
    """One string is one rule (rules contain spaces); a list is a list of rules."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _listish(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return value.replace(",", " ").split()
    return [str(v) for v in value]
