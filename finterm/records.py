"""The plain records that flow one way between stages: Tweet in, Scored out, and the events
beside them (a source's status, a pipeline failure). Every room speaks these and nothing else."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .text import CONTROL_RE, clean_text, normalize_tickers, parse_cashtags


@dataclass(frozen=True, slots=True)
class Tweet:
    """One tweet as every source hands it on, already normalized.

    `text` is the raw text with HTML entities unescaped (what is shown and what is scored);
    `tickers` are upper-case cashtags without `$`, from the API's entities when present,
    else parsed from the text. `created_at` is timezone-aware UTC.
    """

    id: str
    created_at: datetime
    author: str
    text: str
    tickers: tuple[str, ...] = ()
    lang: str | None = None
    source: str = ""
    #: Monotonic time (time.monotonic()) when the tweet reached finterm; for latency figures.
    arrived: float = 0.0
    #: A link to the original post (https only), or None when the source has none (demo).
    url: str | None = None
    #: The author's own tag where the source has one (StockTwits): "Bullish", "Bearish" or None.
    crowd_sentiment: str | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    """A tweet with its predictions. Scores are the softmax probability of the chosen label."""

    tweet: Tweet
    sentiment: str
    sentiment_score: float
    topic: str
    topic_score: float
    #: Engine time for the batch this tweet was scored in, in milliseconds.
    batch_latency_ms: float = 0.0
    #: Full probability vectors, label -> probability (for review and margins); may be empty.
    sentiment_probs: dict[str, float] = field(default_factory=dict)
    topic_probs: dict[str, float] = field(default_factory=dict)

    def to_json_dict(self) -> dict:
        """The --headless output object: exactly these keys, in this order."""
        t = self.tweet
        return {
            "id": t.id,
            "created_at": t.created_at.isoformat().replace("+00:00", "Z"),
            "author": t.author,
            "text": t.text,
            "tickers": list(t.tickers),
            "sentiment": self.sentiment,
            "sentiment_score": round(self.sentiment_score, 4),
            "topic": self.topic,
            "topic_score": round(self.topic_score, 4),
            "source": t.source,
            "url": t.url,
            "crowd_sentiment": t.crowd_sentiment,
        }


#: The states a source moves through; the UI shows them in its status bar.
#: `rate_limited`: the service said to wait (until `next_retry_at`); `error`: the source stopped.
STATES = ("connecting", "live", "reconnecting", "polling", "rate_limited", "ended", "error")


@dataclass(frozen=True)
class SourceStatus:
    """A source's state at one moment; `position`/`total`/`speed` are for replays."""

    state: str
    detail: str = ""
    #: time.time() of the next reconnect attempt, when reconnecting (or rate limited: until when).
    next_retry_at: float | None = None
    position: int | None = None
    total: int | None = None
    speed: float | None = None
    #: The source this is about (its registry name); the pipeline fills it in when empty.
    source: str = ""
    #: Reconnects (or retries) so far this run.
    attempt: int = 0
    #: Several sources merged: each one's own last status (`source` set), in order.
    parts: tuple["SourceStatus", ...] = ()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown source state {self.state!r}")


@dataclass(frozen=True, slots=True)
class PostDeleted:
    """A source says a post it emitted earlier was deleted by its author (a Bluesky delete):
    it goes through the pipeline in order after the post, and the feed drops it."""

    source: str
    id: str


#: Crowd tags a source may carry (the author's own), as `Tweet.crowd_sentiment` spells them.
CROWD_TAGS = ("Bullish", "Bearish")


def crowd_tag(value: object) -> str | None:
    """`bullish`/`Bullish` -> "Bullish"; anything else (None, "", junk) -> None."""
    if isinstance(value, str):
        v = value.strip().capitalize()
        if v in CROWD_TAGS:
            return v
    return None


class PipelineFailed(Exception):
    """The pipeline stopped on an error; `message` is one line for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def to_utc(value: datetime | str) -> datetime:
    """An aware UTC datetime from a datetime (naive means UTC) or an ISO-8601 string."""
    if isinstance(value, str):
        s = value.strip()
        if s.endswith("Z"):
            s = s[:-1] + "+00:00"
        value = datetime.fromisoformat(s)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def stable_id(*parts: object) -> str:
    """A short id that is the same every time for the same parts (rows without an id)."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return "h" + h[:16]


def make_tweet(
    id: object,
    created_at: datetime | str,
    author: str,
    text: str,
    tickers=None,
    lang: str | None = None,
    source: str = "",
    arrived: float = 0.0,
    url: str | None = None,
    crowd_sentiment: object = None,
) -> Tweet:
    """Build a normalized Tweet: clean text; tickers from entities when given, else parsed;
    `url` kept only when it is a plain https link; `crowd_sentiment` as `crowd_tag` reads it."""
    clean = clean_text(text or "")
    ticks = normalize_tickers(tickers) if tickers else parse_cashtags(clean)
    return Tweet(
        id=str(id),
        created_at=to_utc(created_at),
        author=clean_text(author or ""),
        text=clean,
        tickers=ticks,
        lang=lang,
        source=source,
        arrived=arrived,
        url=safe_url(url),
        crowd_sentiment=crowd_tag(crowd_sentiment),
    )


def safe_url(url: object) -> str | None:
    """`url` when it is an https link without spaces or control characters, else None."""
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048:
        return None
    if any(c.isspace() for c in url) or CONTROL_RE.search(url):
        return None
    return url
