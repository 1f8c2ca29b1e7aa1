"""The live X source: tweepy's filtered stream, reconnecting, falling back to search polling.

`XStreamSource(config)` follows the Source protocol (docs/CONTRACTS.md). Its run() syncs
finterm's tagged rules, holds one stream connection at a time, and after a failure waits
as X asks (retry.Backoff) while the status bar shows when the next try is. Tweets resent
after a reconnect are dropped by id; a garbled line is logged and skipped. HTTP 403 means
the access level has no filtered stream: finterm says so once and polls recent search.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Callable

import requests
import tweepy

from finterm.errors import ConfigError, FintermError
from finterm.records import SourceStatus, Tweet

from ..recent_ids import RecentIds
from .client import XStreamingClient
from .payload import request_fields, tweet_from_payload, usernames
from .retry import Backoff, Failure, redact
from .rules import Rule, desired_rules, plan_sync, search_queries
from .search import FatalPollError, RecentSearchPoller
from .settings import XSettings

log = logging.getLogger(__name__)

SOURCE = "x"  # the design's source name; the status says stream or search
#: HTTP statuses after which retrying the stream cannot help.
_FATAL = {400: "X refused finterm's request", 401: "X rejected the bearer token", 404: "no X stream endpoint at"}


class XStreamSource:
    """Live tweets from X's filtered stream (or recent search when the stream is refused).

    `config` is a finterm Config (its `watchlist` and `x:` section are read), a dict of the
    same shape, or an XSettings. Raises ConfigError when there is no token or nothing to watch.
    """

    name = "x"
    live = True

    def __init__(self, config: object, env=None) -> None:
        self.settings = config if isinstance(config, XSettings) else XSettings.from_config(config, env)
        self.settings.require_token()
        s = self.settings
        self.rules = desired_rules(s.watchlist, s.rules, s.max_rule_length, s.exclude_retweets)
        if not self.rules:
            raise ConfigError("nothing to watch on X: list tickers under `watchlist` or rules under `x.rules` in config.yaml")

    def describe(self) -> str:
        n = len(self.rules)
        return f"X filtered stream at {self.settings.host} ({n} rule{'s' if n != 1 else ''})"

    def __repr__(self) -> str:
        return f"XStreamSource(api_base={self.settings.api_base!r}, rules={len(self.rules)})"

    def run(self, emit: Callable[[Tweet], None], status: Callable[[SourceStatus], None], stop: threading.Event) -> None:
        _Run(self, emit, status, stop).run()


class _EmitFailed(Exception):
    """Wraps an error raised by the pipeline's emit, so it ends the run instead of reconnecting."""


class _Run:
    """One run() of the source: its client, its seen-id memory, its backoff."""

    def __init__(self, source: XStreamSource, emit, status, stop: threading.Event) -> None:
        self.settings = source.settings
        self.rules = source.rules
        self.emit = emit
        self.status = status
        self.stop = stop
        self.seen = RecentIds(self.settings.dedup_size)
        self.backoff = Backoff(self.settings)
        self.duplicates = 0
        #: Ids of the rules whose matches are ours; None until the rules are synced.
        self.accepted: set[str] | None = None
        self.client = XStreamingClient(
            self.settings.require_token(), self.settings.api_base,
            on_line=self.on_line, on_live=self.on_live,
            read_timeout=self.settings.read_timeout_s, request_timeout=self.settings.request_timeout_s,
        )

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> None:
        s = self.settings
        if s.is_plain_http_remote():
            log.warning("x.api_base %s is plain http: the bearer token is sent unencrypted", s.api_base)
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_stop, args=(done,), name="x-stream-stop", daemon=True)
        watcher.start()
        try:
            failure = self._stream()
            if failure is not None and not self.stop.is_set():
                self._poll(failure)
        finally:
            done.set()
            if self.duplicates:
                log.info("X source dropped %d tweets it had already seen", self.duplicates)

    def _watch_stop(self, done: threading.Event) -> None:
        """Ends a blocked stream read as soon as `stop` is set (keep-alives come only every 20 s).

        It keeps aborting until the run is over: a connection opened just as `stop` was set
        (tweepy marks itself running again when it connects) is cut as well.
        """
        while not done.is_set():
            if self.stop.wait(0.2):
                self.client.abort()
                done.wait(0.2)

    def _stream(self) -> Failure | None:
        """Stream until stopped or a fatal error; returns the 403 failure if polling should follow."""
        s = self.settings
        self.status(SourceStatus("connecting", f"connecting to X at {s.host}"))
        while not self.stop.is_set():
            try:
                if self.accepted is None:
                    self._sync_rules()
                    if self.stop.is_set():
                        return None
                self.client.filter(**request_fields())
                failure = self.client.outcome or Failure("closed", None, "the stream ended")
            except tweepy.HTTPException as exc:
                failure = Failure.from_http_exception(exc, s.bearer_token)
            except requests.RequestException as exc:
                failure = Failure("network", None, f"cannot reach {s.host} ({type(exc).__name__})")
            if isinstance(self.client.exception, _EmitFailed):
                raise self.client.exception.__cause__ or self.client.exception
            if self.stop.is_set():
                return None
            if failure.status == 403:
                return failure
            if failure.status in _FATAL:
                self._fatal(failure)
            if self._was_healthy():
                self.backoff.reset()
            delay = self.backoff.delay(failure)
            log.warning("X stream: %s; reconnecting in %.3g s", failure.detail, delay)
            self.status(SourceStatus("reconnecting", self._retry_detail(failure), time.time() + delay))
            if self.stop.wait(delay):
                return None
            self.status(SourceStatus("connecting", f"reconnecting to X at {s.host}"))
        return None

    def _was_healthy(self) -> bool:
        """A connection that brought data, or stayed up a while, resets the backoff."""
        c = self.client
        if not c.connected:
            return False
        lasted = time.monotonic() - (c.connected_at or time.monotonic())
        return c.lines > 0 or lasted >= self.settings.network_backoff_max_s

    def _retry_detail(self, failure: Failure) -> str:
        if failure.rate_limited:
            return f"rate limited by X ({failure.detail})"
        return failure.detail

    def _fatal(self, failure: Failure) -> None:
        """Raises FintermError: 400/401/404 will not go away by reconnecting."""
        what = _FATAL[failure.status]
        if failure.status == 404:
            message = f"{what} {self.settings.api_base} ({failure.detail}); check x.api_base / $FINTERM_X_API_BASE"
        elif failure.status == 401:
            message = f"{what} ({failure.detail}); check $X_BEARER_TOKEN or x.bearer_token"
        else:
            message = f"{what} ({failure.detail}); check x.rules and the watchlist"
        self._give_up(message)

    def _give_up(self, message: str) -> None:
        """A failure retrying cannot fix: shown in the status bar, then ends the run as an error."""
        log.error("%s", message)
        self.status(SourceStatus("error", message))
        raise FintermError(message)

    def _sync_rules(self) -> None:
        """Add our missing rules, delete our stale ones, leave everyone else's alone."""
        existing = self.client.get_rules().get("data") or []
        plan = plan_sync([Rule(r["value"], r.get("tag"), str(r["id"])) for r in existing], self.rules)
        accepted = {r.id for r in plan.keep if r.id}
        if plan.delete:
            self.client.delete_rules([r.id for r in plan.delete])
            log.info("X rules: deleted %d stale finterm rules", len(plan.delete))
        if plan.add:
            response = self.client.add_rules([tweepy.StreamRule(r.value, r.tag) for r in plan.add])
            accepted |= {str(r["id"]) for r in response.get("data") or [] if r.get("id")}
            for error in response.get("errors") or []:
                log.warning("X did not accept rule %r: %s", str(error.get("value", ""))[:80],
                            error.get("title") or error.get("details") or error)
            log.info("X rules: added %d", len(plan.add))
        foreign = len([r for r in existing if not str(r.get("tag") or "").startswith("finterm:")])
        if foreign:
            log.info("X rules: %d rules of other apps left as they are (their matches are ignored)", foreign)
        self.accepted = accepted

    def _poll(self, failure: Failure) -> None:
        s = self.settings
        interval = f"{s.poll_interval_s:g} s"
        log.warning(
            "X refused the filtered stream (%s): this account's access level has no filtered "
            "stream. Polling recent search every %s instead.", failure.detail, interval,
        )
        detail = f"no filtered stream at this X access level; recent search every {interval}"
        queries = search_queries([r.value for r in self.rules], s.max_rule_length)
        poller = RecentSearchPoller(s, queries, self.offer, self.status, self.stop, detail)
        try:
            poller.run()
        except FatalPollError as exc:
            self._give_up(exc.message)

    # -- callbacks from the stream thread ---------------------------------------------------
    def on_live(self) -> None:
        log.info("X stream connected at %s", self.settings.host)
        self.status(SourceStatus("live", f"X filtered stream at {self.settings.host}, {len(self.rules)} rules"))

    def on_line(self, raw: bytes) -> None:
        """One stream line: a tweet, a system message, or garbage (logged and skipped)."""
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("skipped a garbled line from the X stream (%d bytes): %r", len(raw), bytes(raw[:60]))
            return
        if not isinstance(message, dict):
            log.warning("skipped a stream line that is not a JSON object")
            return
        data = message.get("data")
        if data is None:
            if message.get("errors"):
                log.warning("X stream message: %s", redact(str(message["errors"])[:300], self.settings.bearer_token))
            return
        if not self._ours(message.get("matching_rules")):
            return
        try:
            tweet = tweet_from_payload(data, usernames(message.get("includes")), SOURCE, time.monotonic())
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("skipped a malformed tweet from the X stream: %s", exc)
            return
        try:
            self.offer(tweet)
        except Exception as exc:
            raise _EmitFailed() from exc

    def _ours(self, matching) -> bool:
        """Only tweets matched by our rules count (other apps' rules share the stream)."""
        if not isinstance(matching, list) or not matching or self.accepted is None:
            return True
        for rule in matching:
            if isinstance(rule, dict):
                if str(rule.get("id")) in self.accepted or str(rule.get("tag") or "").startswith("finterm:"):
                    return True
        return False

    def offer(self, tweet: Tweet) -> None:
        """Emit a tweet unless it was seen recently (resent after a reconnect) or we are stopping."""
        if self.stop.is_set():
            return
        if not self.seen.add(tweet.id):
            self.duplicates += 1
            return
        self.emit(tweet)


NO_CREDENTIALS = ("no X credentials: set X_BEARER_TOKEN (or x.bearer_token in config.yaml) for the live feed, "
                  "or get going with `finterm --demo` or `finterm --replay FILE`")


def build(options, config) -> XStreamSource:
    """The registry's entry (sources/registry.py): refuses at once, in one line, without a token."""
    if not (os.environ.get("X_BEARER_TOKEN") or config.x.bearer_token):
        raise ConfigError(NO_CREDENTIALS)
    return XStreamSource(config)  # it reads the token from the environment or config itself
