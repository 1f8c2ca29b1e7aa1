"""The live StockTwits source: polls public symbol streams with `httpx`, under an hourly budget.

`GET {api_base}/streams/symbol/{SYMBOL}.json` answers the 30 newest messages; `since=<id>`
asks for newer ones only, and `max=<id>` pages back when more than a page came in between.
StockTwits allows about 200 requests an hour per address, then answers HTTP 429, so requests
are spread evenly: one every 3600 / `requests_per_hour` seconds, the symbols in turn. A 429
waits for its Retry-After (the status says until when); a 404 drops that symbol with one
warning and the others go on; a refusal (401/403, or a bot-check page instead of JSON) stops
this source with one line, and merged sources go on without it. Each message is emitted once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Mapping
from urllib.parse import quote, urlsplit

from finterm.errors import ConfigError, FintermError
from finterm.records import SourceStatus, Tweet, make_tweet, to_utc
from finterm.text import normalize_tickers, one_line

from ..base import Emit, SourceOptions, StatusFn
from ..recent_ids import RecentIds

log = logging.getLogger(__name__)

SOURCE = "stocktwits"
DEFAULT_API_BASE = "https://api.stocktwits.com/api/2"
API_BASE_ENV = "FINTERM_STOCKTWITS_API_BASE"
#: Below StockTwits' public limit (about 200 an hour per address), leaving room for a browser.
DEFAULT_REQUESTS_PER_HOUR = 150
#: Polled when neither the watchlist nor sources.stocktwits.symbols names any symbol.
DEFAULT_SYMBOLS = ("SPY", "QQQ", "AAPL", "NVDA", "TSLA")
USER_AGENT = "finterm (terminal market monitor)"
REFUSED_HINT = "its public API may be closed to new apps or behind a bot check"


@dataclass
class StocktwitsSettings:
    """Everything StocktwitsSource needs; tests shrink the waits."""

    api_base: str = DEFAULT_API_BASE
    requests_per_hour: int = DEFAULT_REQUESTS_PER_HOUR
    symbols: list[str] = field(default_factory=list)
    #: True when `symbols` are the built-in few (nothing configured to watch).
    default_symbols: bool = False
    request_timeout_s: float = 15.0
    #: Most pages fetched for one symbol in one turn (30 messages each) to catch up.
    max_pages_per_poll: int = 3
    #: Waits after a failed request (network, 5xx): doubled each time up to backoff_max_s.
    backoff_initial_s: float = 5.0
    backoff_max_s: float = 300.0
    #: Wait after a 429 that has no Retry-After; and the longest wait a Retry-After may ask for.
    rate_limit_wait_s: float = 300.0
    max_wait_s: float = 3600.0
    dedup_size: int = 50_000

    def __post_init__(self) -> None:
        base = (self.api_base or "").strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"sources.stocktwits.api_base (or ${API_BASE_ENV}) must be an http(s) URL, not {base[:80]!r}")
        self.api_base = base
        if self.requests_per_hour < 1:
            raise ConfigError("sources.stocktwits.requests_per_hour must be at least 1")
        self.symbols = list(normalize_tickers(self.symbols))

    @classmethod
    def from_config(cls, config: object, env: Mapping[str, str] | None = None, **overrides) -> "StocktwitsSettings":
        env = os.environ if env is None else env
        st = _get(_get(config, "sources"), "stocktwits")
        symbols = list(normalize_tickers(list(_get(config, "watchlist") or []) + list(_get(st, "symbols") or [])))
        kwargs = {
            "api_base": env.get(API_BASE_ENV) or _get(st, "api_base") or DEFAULT_API_BASE,
            "requests_per_hour": _get(st, "requests_per_hour") or DEFAULT_REQUESTS_PER_HOUR,
            "symbols": symbols or list(DEFAULT_SYMBOLS),
            "default_symbols": not symbols,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def interval_s(self) -> float:
        """Seconds between two requests."""
        return 3600.0 / self.requests_per_hour

    @property
    def host(self) -> str:
        return urlsplit(self.api_base).netloc


class _Refused(Exception):
    """The service will not serve finterm: stop this source."""


class StocktwitsSource:
    """Messages from StockTwits' public symbol streams; see the module docstring."""

    name = "stocktwits"
    live = True

    def __init__(self, settings: StocktwitsSettings | None = None, warn: Callable[[str], None] | None = None,
                 transport=None) -> None:
        self.settings = settings or StocktwitsSettings(symbols=list(DEFAULT_SYMBOLS))
        if not self.settings.symbols:
            raise ConfigError("nothing to watch on StockTwits: list tickers under `watchlist` or sources.stocktwits.symbols")
        self.warn = warn or (lambda m: None)
        self.transport = transport
        self.symbols: deque[str] = deque(self.settings.symbols)
        self.dropped: list[str] = []
        #: symbol -> newest message id seen in its stream.
        self.since: dict[str, int] = {}
        self.seen = RecentIds(self.settings.dedup_size)
        self.requests = 0
        self.emitted = 0
        self.retries = 0
        self._next_at = 0.0

    def describe(self) -> str:
        n = len(self.symbols)
        return (f"StockTwits at {self.settings.host} · {n} symbol{'s' if n != 1 else ''}, "
                f"a request every {self.settings.interval_s:.3g} s · {self.emitted:,} messages")

    def __repr__(self) -> str:
        return f"StocktwitsSource(api_base={self.settings.api_base!r}, symbols={list(self.symbols)!r})"

    # -- the run ----------------------------------------------------------------------------
    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        import httpx

        s = self.settings
        self._emit, self._status, self._stop = emit, status, stop
        status(SourceStatus("connecting", f"polling StockTwits at {s.host}"))
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        with httpx.Client(timeout=s.request_timeout_s, headers=headers, transport=self.transport,
                          follow_redirects=False) as client:
            self._client = client
            self._polling_said = False
            while self.symbols and not stop.is_set():
                symbol = self.symbols[0]
                self.symbols.rotate(-1)
                try:
                    self._poll(symbol)
                except _Refused as exc:
                    message = str(exc)
                    log.error("%s", message)
                    status(SourceStatus("error", message))
                    raise FintermError(message) from None
        if not self.symbols and not stop.is_set():
            message = f"StockTwits: none of the symbols exist there ({', '.join(self.dropped)})"
            status(SourceStatus("error", message))
            raise FintermError(message)

    def _slot(self) -> bool:
        """Wait for the next request's turn under the hourly budget; False when stopping."""
        now = time.monotonic()
        if self._next_at > now and self._stop.wait(self._next_at - now):
            return False
        self._next_at = max(time.monotonic(), self._next_at) + self.settings.interval_s
        return not self._stop.is_set()

    def _poll(self, symbol: str) -> None:
        """One turn for a symbol: what is new since last time (a few pages at most), oldest first."""
        since = self.since.get(symbol)
        params: dict[str, int] = {} if since is None else {"since": since}
        found: dict[int, dict] = {}
        pages = self.settings.max_pages_per_poll if since is not None else 1
        for _ in range(pages):
            data = self._get(symbol, params)
            if data is None:
                return  # rate limited, failed or dropped: its turn comes again
            page = [m for m in data.get("messages") or [] if isinstance(m, dict) and _int_id(m) is not None]
            for m in page:
                found.setdefault(_int_id(m), m)
            cursor = data.get("cursor") if isinstance(data.get("cursor"), dict) else {}
            if since is None or not page or not cursor.get("more"):
                break
            oldest = min(_int_id(m) for m in page)
            if oldest <= since + 1:
                break
            params = {"since": since, "max": oldest - 1}
        else:
            if since is not None:
                log.info("StockTwits %s: more than %d pages since the last poll; the oldest of them skipped",
                         symbol, self.settings.max_pages_per_poll)
        newest = max(found, default=since)
        if newest is not None:
            self.since[symbol] = max(newest, since or 0)
        for mid in sorted(found):
            if since is not None and mid <= since:
                continue
            tweet = message_tweet(found[mid])
            if tweet is None:
                continue
            if self._stop.is_set():
                return
            if self.seen.add(tweet.id):  # a message naming two watched symbols comes in both streams
                self.emitted += 1
                self._emit(tweet)

    def _get(self, symbol: str, params: dict) -> dict | None:
        """One request in its turn; the parsed JSON, or None after a handled failure."""
        import httpx

        if not self._slot():
            return None
        s = self.settings
        url = f"{s.api_base}/streams/symbol/{quote(symbol, safe='.')}.json"
        self.requests += 1
        try:
            r = self._client.get(url, params=params)
        except httpx.HTTPError as exc:
            self._retry(f"cannot reach {s.host} ({type(exc).__name__})")
            return None
        if r.status_code == 429:
            self._rate_limited(r)
            return None
        if r.status_code == 404:
            self._drop(symbol)
            return None
        if r.status_code in (401, 403) or 300 <= r.status_code < 400:
            raise _Refused(f"StockTwits refused finterm's request (HTTP {r.status_code}{_api_message(r)}); {REFUSED_HINT}")
        if r.status_code >= 400:
            self._retry(f"HTTP {r.status_code}{_api_message(r)}")
            return None
        try:
            data = r.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            kind = r.headers.get("content-type", "?").split(";")[0]
            raise _Refused(f"StockTwits answered with {one_line(kind, 40)} instead of JSON; {REFUSED_HINT}")
        self.retries = 0
        if not self._polling_said:
            self._polling_said = True
            self._status(SourceStatus("live", f"polling StockTwits at {s.host}, {len(self.symbols)} symbols"))
        return data

    def _retry(self, why: str) -> None:
        s = self.settings
        wait = min(s.backoff_initial_s * 2 ** min(self.retries, 16), s.backoff_max_s)
        self.retries += 1
        log.warning("StockTwits: %s; trying again in %.3g s", why, wait)
        self._status(SourceStatus("reconnecting", why, next_retry_at=time.time() + wait, attempt=self.retries))
        self._polling_said = False
        self._next_at = max(self._next_at, time.monotonic() + wait)

    def _rate_limited(self, r) -> None:
        s = self.settings
        wait = retry_after(r.headers.get("retry-after"))
        wait = min(s.max_wait_s, s.rate_limit_wait_s if wait is None else wait)
        until = time.time() + wait
        hhmmss = datetime.fromtimestamp(until, timezone.utc).strftime("%H:%M:%S")
        log.warning("StockTwits rate limit (HTTP 429): waiting %.3g s, until %s UTC", wait, hhmmss)
        self._status(SourceStatus("rate_limited", f"StockTwits asked to wait until {hhmmss} UTC", next_retry_at=until))
        self._polling_said = False
        self._next_at = max(self._next_at, time.monotonic() + wait)

    def _drop(self, symbol: str) -> None:
        if symbol in self.symbols:
            self.symbols.remove(symbol)
            self.dropped.append(symbol)
            message = f"StockTwits has no symbol {symbol} (HTTP 404); dropped it, the others go on"
            log.warning("%s", message)
            self.warn(message)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds, or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def message_tweet(m: dict) -> Tweet | None:
    """A Tweet from one StockTwits message; None when it lacks an id or a body."""
    mid, body = _int_id(m), m.get("body")
    if mid is None or not isinstance(body, str):
        return None
    user = m.get("user") if isinstance(m.get("user"), dict) else {}
    username = user.get("username") if isinstance(user.get("username"), str) else ""
    symbols = [s.get("symbol") for s in m.get("symbols") or [] if isinstance(s, dict) and isinstance(s.get("symbol"), str)]
    entities = m.get("entities") if isinstance(m.get("entities"), dict) else {}
    sentiment = entities.get("sentiment") if isinstance(entities.get("sentiment"), dict) else {}
    now = datetime.now(timezone.utc)
    try:
        created = to_utc(m["created_at"]) if isinstance(m.get("created_at"), str) else now
    except (ValueError, OverflowError):
        created = now
    if created > now + timedelta(minutes=5):  # a wrong clock (or a lie) must not move every window
        created = now
    url = f"https://stocktwits.com/{quote(username, safe='')}/message/{mid}" if username else None
    return make_tweet(mid, created, username, body, tickers=symbols or None, source=SOURCE, arrived=time.monotonic(),
                      url=url, crowd_sentiment=sentiment.get("basic"))


def _int_id(m: dict) -> int | None:
    v = m.get("id")
    if isinstance(v, bool):
        return None
    if isinstance(v, int) and v > 0:
        return v
    if isinstance(v, str) and v.isdigit() and len(v) < 20:
        return int(v)
    return None


def _api_message(r) -> str:
    try:
        data = r.json()
    except ValueError:
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
        return f": {one_line(errors[0]['message'], 120)}"
    return ""


def _get(obj: object, key: str):
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def build(options: SourceOptions, config) -> StocktwitsSource:
    """The registry's entry (sources/registry.py)."""
    return StocktwitsSource(StocktwitsSettings.from_config(config), warn=options.warn)
