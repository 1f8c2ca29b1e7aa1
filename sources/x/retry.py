"""Why an X connection or request failed, and how long to wait before trying again.

The waits follow X's guidance for streams: network errors back off linearly (quickly at
first), HTTP errors exponentially, and HTTP 429 waits for `x-rate-limit-reset` when X says
when the window resets (exponentially from a minute when it does not).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .settings import XSettings


@dataclass(frozen=True)
class Failure:
    """One failed attempt. `kind`: network | closed | http | exception."""

    kind: str
    status: int | None = None
    #: One line for the status bar and the log; never holds the token (see redact()).
    detail: str = ""
    #: time.time() when the rate-limit window resets (from x-rate-limit-reset), if known.
    reset_at: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.status in (420, 429)

    @property
    def server_error(self) -> bool:
        return self.status is not None and self.status >= 500

    @classmethod
    def from_response(cls, response, token: str | None = None) -> "Failure":
        """From an HTTP error response (requests.Response); reads at most 4 KB of its body."""
        status = response.status_code
        try:
            raw = next(response.iter_content(4096), b"")
            body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        except Exception:  # the connection may already be gone
            body = ""
        return cls("http", status, redact(f"HTTP {status}{_api_message(body)}", token), _reset_at(response.headers))

    @classmethod
    def from_http_exception(cls, exc, token: str | None = None) -> "Failure":
        """From a tweepy.HTTPException raised by a REST call (rules, search)."""
        response = exc.response
        status = getattr(response, "status_code", None)
        messages = "; ".join(str(m) for m in getattr(exc, "api_messages", []) if m)
        detail = f"HTTP {status}" + (f": {messages[:200]}" if messages else "")
        return cls("http", status, redact(detail, token), _reset_at(getattr(response, "headers", {}) or {}))


def redact(text: str, token: str | None) -> str:
    """`text` with the token (if it appears at all, e.g. echoed by a proxy) blanked out."""
    if token and token in text:
        text = text.replace(token, "[token]")
    return text.replace("\r", " ").replace("\n", " ")


def _api_message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [data.get("title"), data.get("detail") or data.get("reason")]
    if not any(parts):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            parts = [errors[0].get("title"), errors[0].get("detail") or errors[0].get("message")]
    text = ": ".join(str(p) for p in parts if p)
    return f" ({text[:200]})" if text else ""


def _reset_at(headers) -> float | None:
    value = headers.get("x-rate-limit-reset") if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Backoff:
    """Wait times for successive failures; `reset()` once a connection has worked again."""

    def __init__(self, settings: XSettings) -> None:
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self._http_wait = s.backoff_initial_s
        self._rate_wait = s.rate_limit_wait_s
        self._network_steps = 0

    def delay(self, failure: Failure, now: float | None = None) -> float:
        """Seconds to wait before the next attempt after `failure`."""
        s = self.settings
        now = time.time() if now is None else now
        if failure.rate_limited:
            if failure.reset_at is not None:
                wait = max(failure.reset_at - now, s.network_backoff_s)
            else:
                wait = self._rate_wait
                self._rate_wait = min(self._rate_wait * 2, s.max_wait_s)
        elif failure.kind == "http":
            wait = self._http_wait
            self._http_wait = min(self._http_wait * 2, s.backoff_max_s)
        else:
            self._network_steps += 1
            wait = min(s.network_backoff_s * self._network_steps, s.network_backoff_max_s)
        return max(0.0, min(wait, s.max_wait_s))
