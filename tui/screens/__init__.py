"""finterm's modal screens."""

from .help import HelpScreen
from .ticker_filter import TickerFilterScreen
from .topic_picker import TopicPickerScreen

__all__ = ["HelpScreen", "TickerFilterScreen", "TopicPickerScreen"]
