"""tweepy clients pointed at a configurable API host, one connection attempt at a time.

tweepy 4.17 hard-codes https://api.twitter.com in two places: `BaseClient.request` (REST:
rules, search) and `StreamingClient._connect` (the stream). Both are overridden here, the
smallest seams that move every request; everything else (parameters, rule objects, error
classes, the line reader) stays tweepy's. `request` is re-implemented rather than wrapped
because tweepy's version logs the request headers, bearer token included, at DEBUG level.

tweepy's own stream loop retries forever with fixed waits and ends on a malformed line;
here every stream callback records what happened and disconnects, so each `filter()` call
is exactly one connection and XStreamSource decides about retries, waits and status.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

import requests
import tweepy
from tweepy.errors import BadRequest, Forbidden, HTTPException, NotFound, TooManyRequests, TwitterServerError, Unauthorized
from tweepy.streaming import BaseStream

from .retry import Failure, redact

log = logging.getLogger(__name__)


class _ApiBase:
    """Mixin for tweepy clients: REST requests go to `self.api_base`, app-only auth only."""

    api_base: str
    request_timeout: float

    def request(self, method, route, params=None, json=None, user_auth=False):
        if user_auth:
            raise tweepy.TweepyException("finterm uses app-only (bearer token) authentication")
        headers = {"User-Agent": self.user_agent, "Authorization": f"Bearer {self.bearer_token}"}
        log.debug("X API request: %s %s %s", method, route, params)
        with self.session.request(
            method, self.api_base + route, params=params, json=json, headers=headers,
            timeout=self.request_timeout,
        ) as response:
            _raise_for_status(response)
            return response

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_base={self.api_base!r})"


def _raise_for_status(response: requests.Response) -> None:
    """The same exceptions tweepy raises, so callers can use tweepy's error classes."""
    code = response.status_code
    if 200 <= code < 300:
        return
    if code == 400:
        raise BadRequest(response)
    if code == 401:
        raise Unauthorized(response)
    if code == 403:
        raise Forbidden(response)
    if code == 404:
        raise NotFound(response)
    if code == 429:
        reset = response.headers.get("x-rate-limit-reset")
        raise TooManyRequests(response, reset_time=int(reset) if reset and reset.isdigit() else None)
    if code >= 500:
        raise TwitterServerError(response)
    raise HTTPException(response)


class XSearchClient(_ApiBase, tweepy.Client):
    """tweepy.Client for recent search; returns requests.Response so rate headers can be read."""

    def __init__(self, bearer_token: str, api_base: str, request_timeout: float = 30.0) -> None:
        super().__init__(bearer_token, return_type=requests.Response, wait_on_rate_limit=False)
        self.api_base = api_base
        self.request_timeout = request_timeout


class XStreamingClient(_ApiBase, tweepy.StreamingClient):
    """tweepy.StreamingClient at `api_base` whose `filter()` makes a single connection attempt.

    After `filter()` returns, `outcome` says why (None only if stopped with no error),
    `connected` whether HTTP 200 was reached, `lines` how many data lines came.
    """

    def __init__(
        self,
        bearer_token: str,
        api_base: str,
        on_line: Callable[[bytes], None],
        on_live: Callable[[], None] = lambda: None,
        read_timeout: float = 30.0,
        request_timeout: float = 30.0,
    ) -> None:
        super().__init__(bearer_token, return_type=dict, wait_on_rate_limit=False, max_retries=0)
        self.api_base = api_base
        self.request_timeout = request_timeout
        self.read_timeout = read_timeout
        self._on_line = on_line
        self._on_live = on_live
        self._lock = threading.Lock()
        self._response: requests.Response | None = None
        self.outcome: Failure | None = None
        self.connected = False
        self.connected_at: float | None = None
        self.lines = 0
        self.exception: BaseException | None = None
        self.session.hooks["response"].append(self._track)

    # -- where tweepy builds the stream URL -------------------------------------------------
    def _connect(self, method, endpoint, **kwargs):
        self.outcome, self.connected, self.connected_at, self.lines = None, False, None, 0
        self.exception = None
        self.session.headers["Authorization"] = f"Bearer {self.bearer_token}"
        kwargs.setdefault("timeout", (min(10.0, self.request_timeout), self.read_timeout))
        BaseStream._connect(self, method, f"{self.api_base}/2/tweets/{endpoint}/stream", **kwargs)

    def abort(self) -> None:
        """From another thread: end the stream now, even while a read is blocked."""
        self.disconnect()
        with self._lock:
            response = self._response
        if response is None:
            return
        try:
            response.raw.shutdown()  # urllib3 >= 2.3: made for exactly this
        except Exception:
            sock = getattr(getattr(response.raw, "connection", None), "sock", None)
            if sock is not None:
                try:
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def _track(self, response, *args, **kwargs):
        if urlsplit(response.url).path.endswith("/stream"):
            with self._lock:
                self._response = response
        return response

    # -- tweepy's stream callbacks ---------------------------------------------------------
    def on_connect(self):
        self.connected, self.connected_at = True, time.monotonic()
        self._on_live()

    def on_data(self, raw_data):
        self.lines += 1
        self._on_line(raw_data)

    def on_keep_alive(self):
        pass

    def on_request_error(self, status_code):
        with self._lock:
            response = self._response
        if response is not None and response.status_code == status_code:
            self.outcome = Failure.from_response(response, self.bearer_token)
        else:
            self.outcome = Failure("http", status_code, f"HTTP {status_code}")
        self.disconnect()

    def on_connection_error(self):
        exc = sys.exc_info()[1]
        what = type(exc).__name__ if exc is not None else "connection error"
        detail = "connection dropped" if self.connected else "cannot connect"
        self.outcome = Failure("network", None, redact(f"{detail} ({what})", self.bearer_token))
        self.disconnect()

    def on_closed(self, response):
        self.outcome = Failure("closed", None, "X closed the stream")
        self.disconnect()

    def on_exception(self, exception):
        # Reached for errors tweepy does not retry itself (an SSL error, or one raised by
        # our own line handler); the source decides whether to reconnect or give up.
        self.outcome = Failure("exception", None, redact(f"{type(exception).__name__}: {exception}", self.bearer_token))
        self.exception = exception
        self.disconnect()

    def on_disconnect(self):
        with self._lock:
            self._response = None
