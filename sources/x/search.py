"""Polling X's recent search: the fallback when the access level has no filtered stream.

Each query keeps its own `since_id`, so a poll only fetches what is new; X's rate-limit
headers are obeyed (no request while `x-rate-limit-remaining` is 0 before the reset).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests
import tweepy

from finterm.records import SourceStatus, Tweet

from .client import XSearchClient
from .payload import request_fields, tweet_from_payload, usernames
from .retry import Backoff, Failure, redact
from .settings import XSettings

log = logging.getLogger(__name__)

SOURCE = "x"  # the design's source name; the status says stream or search


class FatalPollError(Exception):
    """Polling cannot work at all (bad token, no search access); `message` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RecentSearchPoller:
    """Polls each query every `settings.poll_interval_s`, oldest new tweet offered first."""

    def __init__(
        self,
        settings: XSettings,
        queries: list[str],
        offer: Callable[[Tweet], None],
        status: Callable[[SourceStatus], None],
        stop: threading.Event,
        polling_detail: str,
        client: XSearchClient | None = None,
    ) -> None:
        self.settings = settings
        self.queries = queries
        self.offer = offer
        self.status = status
        self.stop = stop
        self.polling_detail = polling_detail
        self.client = client or XSearchClient(settings.require_token(), settings.api_base, settings.request_timeout_s)
        self.backoff = Backoff(settings)
        self.since_id: dict[str, str | None] = {q: None for q in queries}
        #: time.time() before which no request may be made (rate-limit window exhausted).
        self.not_before = 0.0

    def run(self) -> None:
        """Poll until stopped; raises FatalPollError when search is not available either."""
        self.status(SourceStatus("polling", self.polling_detail))
        while not self.stop.is_set():
            started = time.monotonic()
            for query in self.queries:
                if not self._poll_with_retries(query):
                    return
            wait = self.settings.poll_interval_s - (time.monotonic() - started)
            if self.stop.wait(max(wait, 0.0)):
                return

    def _poll_with_retries(self, query: str) -> bool:
        """One query's poll, retried after transient failures; False once stopped."""
        retrying = False
        while not self.stop.is_set():
            if not self._wait_for_window():
                return False
            try:
                self._poll(query)
            except (tweepy.HTTPException, requests.RequestException) as exc:
                failure = self._failure(exc)
                if failure.status in (400, 401, 403, 404):
                    raise FatalPollError(self._fatal_message(failure)) from None
                if failure.rate_limited and failure.reset_at is not None:
                    self.not_before = max(self.not_before, failure.reset_at)
                delay = self.backoff.delay(failure)
                log.warning("X recent search failed (%s); retrying in %.3g s", failure.detail, delay)
                self.status(SourceStatus("reconnecting", f"recent search: {failure.detail}", time.time() + delay))
                retrying = True
                if self.stop.wait(delay):
                    return False
                continue
            self.backoff.reset()
            if retrying:
                self.status(SourceStatus("polling", self.polling_detail))
            return True
        return False

    def _wait_for_window(self) -> bool:
        wait = self.not_before - time.time()
        if wait <= 0:
            return True
        wait = min(wait, self.settings.max_wait_s)
        log.info("X recent search rate limit reached; next request in %.0f s", wait)
        return not self.stop.wait(wait)

    def _poll(self, query: str) -> None:
        since = self.since_id[query]
        params = dict(request_fields(), max_results=100)
        if since:
            params["since_id"] = since
        batches: list[tuple[list, dict[str, str]]] = []
        newest: str | None = None
        next_token: str | None = None
        for page in range(max(1, self.settings.max_pages_per_poll)):
            if next_token:
                params["next_token"] = next_token
            response = self.client.search_recent_tweets(query, **params)
            self._note_rate_limit(response)
            body = response.json()
            meta = body.get("meta") or {}
            if page == 0:
                newest = meta.get("newest_id")
            data = body.get("data") or []
            batches.append((data if isinstance(data, list) else [], usernames(body.get("includes"))))
            next_token = meta.get("next_token")
            # The first poll only takes the latest page; later ones catch up on what is new.
            if not since or not next_token:
                break
        else:
            if next_token:
                log.warning("X recent search: more new tweets than %d pages; older ones skipped",
                            self.settings.max_pages_per_poll)
        arrived = time.monotonic()
        for data, users in reversed(batches):
            for item in reversed(data):  # search returns newest first
                try:
                    tweet = tweet_from_payload(item, users, SOURCE, arrived)
                except (ValueError, TypeError, KeyError) as exc:
                    log.warning("skipped a malformed tweet from X recent search: %s", exc)
                    continue
                self.offer(tweet)
        if newest:
            self.since_id[query] = str(newest)

    def _note_rate_limit(self, response) -> None:
        remaining = response.headers.get("x-rate-limit-remaining")
        reset = response.headers.get("x-rate-limit-reset")
        if remaining is not None and reset is not None and remaining.strip() == "0":
            try:
                self.not_before = max(self.not_before, float(reset))
            except ValueError:
                pass

    def _failure(self, exc: Exception) -> Failure:
        token = self.settings.bearer_token
        if isinstance(exc, tweepy.HTTPException):
            return Failure.from_http_exception(exc, token)
        return Failure("network", None, redact(f"cannot reach {self.settings.host} ({type(exc).__name__})", token))

    def _fatal_message(self, failure: Failure) -> str:
        if failure.status == 401:
            return f"X rejected the bearer token ({failure.detail}); check $X_BEARER_TOKEN or x.bearer_token"
        if failure.status == 403:
            return f"this X access level allows neither the filtered stream nor recent search ({failure.detail})"
        return f"X recent search refused the query ({failure.detail}); check x.rules and the watchlist"

