"""finterm's widgets, one a module."""

from .feed_view import FeedView
from .status_bar import StatusBar, StatusInfo
from .ticker_panel import TickerPanel
from .topic_histogram import TopicHistogram

__all__ = ["FeedView", "StatusBar", "StatusInfo", "TickerPanel", "TopicHistogram"]
