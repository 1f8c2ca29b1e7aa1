"""StockTwits' public symbol streams (no key): the watchlist's messages, with their authors' own tags."""
