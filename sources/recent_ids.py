"""A bounded memory of recently seen tweet ids, so a tweet sent twice is scored once."""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """Remembers the last `capacity` ids; the oldest are forgotten first.

    X resends tweets around a reconnect (and search pages overlap the stream's last
    minutes), always recent ones, so a bounded window is enough and memory stays flat.
    """

    def __init__(self, capacity: int = 50_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, tweet_id: str) -> bool:
        """True if `tweet_id` is new (and now remembered), False if it was seen recently."""
        if tweet_id in self._ids:
            self._ids.move_to_end(tweet_id)
            return False
        self._ids[tweet_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, tweet_id: str) -> bool:
        return tweet_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)
