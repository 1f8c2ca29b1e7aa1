"""X API v2 tweet objects (stream lines, search results) turned into finterm Tweets."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from finterm.records import Tweet, make_tweet

#: What finterm asks X for: the fields a Tweet needs, the author's username via expansion,
#: and note_tweet so long posts arrive whole instead of cut at 280 characters.
EXPANSIONS = ["author_id"]
TWEET_FIELDS = ["created_at", "entities", "author_id", "lang", "note_tweet"]
USER_FIELDS = ["username"]


def request_fields() -> dict[str, list[str]]:
    """The keyword arguments tweepy's filter() and search_recent_tweets() take for them."""
    return {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}


def usernames(includes: object) -> dict[str, str]:
    """author_id -> username from a response's `includes.users`."""
    out: dict[str, str] = {}
    users = includes.get("users") if isinstance(includes, dict) else None
    for user in users if isinstance(users, list) else ():
        if isinstance(user, dict) and user.get("id") is not None:
            name = user.get("username") or user.get("name")
            if name:
                out[str(user["id"])] = str(name)
    return out


def tweet_from_payload(data: dict, users: dict[str, str], source: str, arrived: float = 0.0) -> Tweet:
    """A Tweet from one v2 tweet object; ValueError when it lacks an id or text.

    Tickers come from `entities.cashtags` when X sent any, else make_tweet parses the text.
    """
    if not isinstance(data, dict):
        raise ValueError("tweet object is not a JSON object")
    tweet_id, text = data.get("id"), data.get("text")
    if not tweet_id or not isinstance(text, str):
        raise ValueError("tweet object without id or text")
    entities = data.get("entities")
    note = data.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"]:
        text, entities = note["text"], note.get("entities")
    cashtags = []
    if isinstance(entities, dict) and isinstance(entities.get("cashtags"), list):
        cashtags = [c["tag"] for c in entities["cashtags"] if isinstance(c, dict) and isinstance(c.get("tag"), str)]
    author_id = data.get("author_id")
    author = users.get(str(author_id), str(author_id)) if author_id is not None else ""
    created = data.get("created_at") or datetime.now(timezone.utc)
    lang = data.get("lang") if isinstance(data.get("lang"), str) else None
    username = users.get(str(author_id)) if author_id is not None else None
    url = f"https://x.com/{quote(username, safe='')}/status/{quote(str(tweet_id), safe='')}" if username else \
        f"https://x.com/i/web/status/{quote(str(tweet_id), safe='')}"
    return make_tweet(tweet_id, created, author, text, tickers=cashtags or None, lang=lang, source=source, arrived=arrived,
                      url=url)
