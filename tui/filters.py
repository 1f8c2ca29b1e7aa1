"""What the feed is filtered by: a ticker, a topic, a sentiment (any combination)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from finterm import text
from finterm.records import Scored

SENTIMENT_CYCLE = (None, "Bullish", "Bearish", "Neutral")


@dataclass(frozen=True, slots=True)
class Filters:
    ticker: str | None = None
    topic: str | None = None
    sentiment: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.ticker or self.topic or self.sentiment)

    def matches(self, sc: Scored) -> bool:
        if self.ticker is not None and self.ticker not in sc.tweet.tickers:
            return False
        if self.topic is not None and sc.topic != self.topic:
            return False
        if self.sentiment is not None and sc.sentiment != self.sentiment:
            return False
        return True

    def with_(self, **changes) -> "Filters":
        return replace(self, **changes)

    def next_sentiment(self) -> "Filters":
        i = SENTIMENT_CYCLE.index(self.sentiment) if self.sentiment in SENTIMENT_CYCLE else 0
        return replace(self, sentiment=SENTIMENT_CYCLE[(i + 1) % len(SENTIMENT_CYCLE)])


def normalize_ticker(raw: str) -> str | None:
    """`$aapl ` -> `AAPL`; empty -> None."""
    return text.normalize_ticker(raw) or None
