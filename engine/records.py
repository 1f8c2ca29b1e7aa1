"""The plain records that flow between stages: a Tweet in, a Scored tweet out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
        }
