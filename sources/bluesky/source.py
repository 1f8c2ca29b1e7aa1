"""The live Bluesky source: Jetstream over a WebSocket (the `websockets` library, its threaded client).

`BlueskySource(config)` follows the Source protocol (docs/CONTRACTS.md). One connection at a
time; each frame goes through `JetstreamFilter` (events.py). A dropped connection reconnects
with backoff from `cursor` = the last `time_us` seen, rewound a little, so nothing said while
it was away is lost; posts sent again are dropped by their at:// URI, so nothing comes twice.
The URL comes from `sources.bluesky.url`, and `$FINTERM_BLUESKY_URL` wins.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from finterm.errors import ConfigError, FintermError
from finterm.records import SourceStatus

from ..base import Emit, SourceOptions, StatusFn
from .events import POST, JetstreamFilter

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
URL_ENV = "FINTERM_BLUESKY_URL"
#: How finterm introduces itself to the relay.
USER_AGENT = "finterm (terminal market monitor; Jetstream client)"


@dataclass
class BlueskySettings:
    """Everything BlueskySource needs; tests shrink the waits."""

    url: str = DEFAULT_URL
    #: On a reconnect, ask for events from this long before the last one seen (duplicates are dropped).
    rewind_s: float = 2.0
    #: First wait after a failed or dropped connection; doubled each time up to backoff_max_s.
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    open_timeout_s: float = 10.0
    #: A connection that sends nothing for this long is given up and reopened (the firehose never rests).
    read_timeout_s: float = 60.0
    #: Frames larger than this are skipped (a real post event is a few kB); the socket takes up to max_frame_bytes.
    max_event_bytes: int = 100_000
    max_frame_bytes: int = 4 * 1024 * 1024
    #: Recent post URIs remembered to drop resent posts and to match deletes.
    dedup_size: int = 100_000

    def __post_init__(self) -> None:
        self.url = check_url(self.url)

    @classmethod
    def from_config(cls, config: object, env: Mapping[str, str] | None = None, **overrides) -> "BlueskySettings":
        env = os.environ if env is None else env
        url = env.get(URL_ENV) or _get(_get(_get(config, "sources"), "bluesky"), "url") or DEFAULT_URL
        return cls(url=url, **overrides)

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


def check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ConfigError(f"sources.bluesky.url (or ${URL_ENV}) must be a ws:// or wss:// URL, not {url[:80]!r}")
    return url


def subscribe_url(base: str, cursor: int | None) -> str:
    """`base` with wantedCollections (unless it names its own) and the resume cursor."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    if not any(k == "wantedCollections" for k, _ in query):
        query.append(("wantedCollections", POST))
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/subscribe", urlencode(query), ""))


class _Stale(Exception):
    """Nothing came for read_timeout_s."""


class BlueskySource:
    """Cashtag posts from Bluesky's Jetstream; see the module docstring."""

    name = "bluesky"
    live = True

    def __init__(self, settings: BlueskySettings | None = None) -> None:
        self.settings = settings or BlueskySettings()
        s = self.settings
        self.filter = JetstreamFilter(max_event_bytes=s.max_event_bytes, dedup_size=s.dedup_size)
        self.reconnects = 0
        #: Cursors asked for, one per connection (None: live from now).
        self.cursors: list[int | None] = []

    def describe(self) -> str:
        c = self.filter.counts
        return f"Bluesky Jetstream at {self.settings.host} · {c.kept:,} cashtag posts of {c.events:,} events"

    def __repr__(self) -> str:
        return f"BlueskySource(url={self.settings.url!r})"

    def resume_cursor(self) -> int | None:
        cur = self.filter.cursor
        return None if cur is None else max(0, cur - int(self.settings.rewind_s * 1_000_000))

    def run(self, emit: Emit, status: StatusFn, stop: threading.Event) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
        from websockets.sync.client import connect

        s = self.settings
        wait = s.backoff_initial_s
        status(SourceStatus("connecting", f"connecting to Jetstream at {s.host}"))
        try:
            while not stop.is_set():
                cursor = self.resume_cursor()
                self.cursors.append(cursor)
                before = self.filter.counts.events
                try:
                    with connect(subscribe_url(s.url, cursor), open_timeout=s.open_timeout_s, close_timeout=1,
                                 max_size=s.max_frame_bytes, user_agent_header=USER_AGENT) as ws:
                        log.info("Jetstream connected at %s (cursor %s)", s.host, cursor)
                        status(SourceStatus("live", f"Jetstream at {s.host}", attempt=self.reconnects))
                        self._read(ws, emit, stop)
                    why = "the connection was closed"
                except InvalidURI as exc:
                    raise ConfigError(f"sources.bluesky.url: {exc}") from None
                except InvalidStatus as exc:
                    code = exc.response.status_code
                    if 400 <= code < 500 and code not in (408, 429):
                        raise FintermError(f"Jetstream at {s.host} refused the connection (HTTP {code}); "
                                           f"check sources.bluesky.url / ${URL_ENV}") from None
                    why = f"HTTP {code}"
                except ConnectionClosed as exc:
                    why = "the connection dropped" if exc.rcvd is None else f"closed by the server ({exc.rcvd.code})"
                except _Stale:
                    why = f"nothing for {s.read_timeout_s:g} s"
                except (OSError, InvalidHandshake, TimeoutError) as exc:
                    why = f"cannot reach {s.host} ({type(exc).__name__})"
                if stop.is_set():
                    break
                if self.filter.counts.events > before:
                    wait = s.backoff_initial_s  # it worked for a while: start the backoff again
                self.reconnects += 1
                log.warning("Jetstream: %s; reconnecting in %.3g s from cursor %s", why, wait, self.resume_cursor())
                status(SourceStatus("reconnecting", why, next_retry_at=time.time() + wait, attempt=self.reconnects))
                if stop.wait(wait):
                    break
                wait = min(wait * 2, s.backoff_max_s)
                status(SourceStatus("connecting", f"reconnecting to Jetstream at {s.host}", attempt=self.reconnects))
        finally:
            log.info("Jetstream: %s", ", ".join(f"{k} {v:,}" for k, v in self.filter.counts.as_dict().items()))

    def _read(self, ws, emit: Emit, stop: threading.Event) -> None:
        read_timeout = self.settings.read_timeout_s
        feed = self.filter.feed
        last = time.monotonic()
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.25, decode=False)
            except TimeoutError:
                if time.monotonic() - last > read_timeout:
                    raise _Stale() from None
                continue
            last = time.monotonic()
            item = feed(raw)
            if item is not None:
                emit(item)


def _get(obj: object, key: str):
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def build(options: SourceOptions, config) -> BlueskySource:
    """The registry's entry (sources/registry.py)."""
    return BlueskySource(BlueskySettings.from_config(config))
