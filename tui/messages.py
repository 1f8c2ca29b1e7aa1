"""Messages the widgets post upward; the app owns the filters and applies them."""

from __future__ import annotations

from textual.message import Message


class TickerChosen(Message):
    """A ticker was picked (a row selected in the ticker panel)."""

    def __init__(self, ticker: str) -> None:
        super().__init__()
        self.ticker = ticker


class TickerHighlighted(Message):
    """The ticker panel's cursor moved to a ticker (the histogram follows it)."""

    def __init__(self, ticker: str | None) -> None:
        super().__init__()
        self.ticker = ticker


class TopicChosen(Message):
    """A topic was picked (a histogram row clicked)."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic
