"""Jetstream events to Tweets: the cheap filter that keeps cashtag posts out of the whole firehose.

Jetstream sends every Bluesky event as one JSON text frame:
`{"did", "time_us", "kind": "commit", "commit": {"operation": "create", "collection":
"app.bsky.feed.post", "rkey", "cid", "record": {"text", "createdAt", "langs", "facets"}}}`,
besides `identity` and `account` events, deletes, updates and other collections.

`JetstreamFilter.feed(raw)` keeps new posts (`commit`, `create`, `app.bsky.feed.post`) that
mention a cashtag (a `$` tag facet, or a cashtag in the text by the scorer's own rule,
finterm/text.py) and whose `langs` is empty or English, each once (by its at:// URI);
turns a delete of a post it kept into a `PostDeleted`; and counts everything else by why it
was skipped. Most frames never reach the JSON parser: substring tests on the raw bytes (the
post collection's name; a `$` other than the `"$type"` keys every record has, or a delete)
decide first (bench/bluesky_filter.py).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import quote

from finterm.records import PostDeleted, Tweet, make_tweet, to_utc
from finterm.text import CASHTAG_RE, normalize_tickers, parse_cashtags

from ..recent_ids import RecentIds

try:  # faster than json in every case measured: 3.7x on the parse, 1.1-1.6x in the filter (BENCHMARKS.md)
    import orjson

    fast_loads: Callable[[bytes], object] = orjson.loads
    PARSER = "orjson"
except ImportError:  # pragma: no cover - orjson is a dependency; json still works
    fast_loads = json.loads
    PARSER = "json"

SOURCE = "bluesky"
POST = "app.bsky.feed.post"
_POST_B = b'"app.bsky.feed.post"'
_DELETE_B = b'"delete"'
_TYPE_B = b'"$type"'
_TIME_B = b'"time_us":'
_DID_RE = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}$")
_RKEY_RE = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
#: A post dated more than this after its event (a wrong clock, or a lie) is dated by the event.
MAX_FUTURE = timedelta(minutes=5)


@dataclass
class FilterCounts:
    """What the filter saw, by outcome; `events` is every frame fed."""

    events: int = 0
    kept: int = 0
    deleted: int = 0
    duplicate: int = 0
    #: Other kinds (identity, account), operations (update, a delete of a post not kept) and collections.
    other: int = 0
    no_cashtag: int = 0
    not_english: int = 0
    malformed: int = 0
    oversized: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def skipped(self) -> int:
        return self.events - self.kept - self.deleted


def _is_english(langs: object) -> bool:
    if not langs:
        return True
    if not isinstance(langs, list):
        return False
    for lang in langs:
        if isinstance(lang, str) and lang[:2].lower() == "en" and (len(lang) == 2 or lang[2] in "-_"):
            return True
    return False


def facet_cashtags(facets: object) -> list[str]:
    """`$` tag facets (`{"$type": "app.bsky.richtext.facet#tag", "tag": "$AAPL"}`) that are cashtags."""
    out: list[str] = []
    if not isinstance(facets, list):
        return out
    for facet in facets:
        features = facet.get("features") if isinstance(facet, dict) else None
        if not isinstance(features, list):
            continue
        for feat in features:
            if not isinstance(feat, dict):
                continue
            tag = feat.get("tag")
            if isinstance(tag, str) and tag[:1] == "$" and CASHTAG_RE.fullmatch(tag):
                out.append(tag)
    return out


def post_url(did: str, rkey: str) -> str:
    return f"https://bsky.app/profile/{quote(did, safe=':')}/post/{quote(rkey, safe='')}"


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST}/{rkey}"


class JetstreamFilter:
    """Feed it raw frames; it returns a Tweet to score, a PostDeleted, or None (counted).

    `cursor` is the latest `time_us` seen in any frame (skipped ones too), for a resume.
    """

    def __init__(self, loads: Callable[[bytes], object] = fast_loads, max_event_bytes: int = 100_000,
                 dedup_size: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.loads = loads
        self.max_event_bytes = max_event_bytes
        self.counts = FilterCounts()
        #: at:// URIs of the posts kept (to drop a resent one, and to know which deletes matter).
        self.kept_uris = RecentIds(dedup_size)
        self.deleted_uris = RecentIds(max(1, dedup_size // 10))
        self.cursor: int | None = None
        self.clock = clock

    def _time_us(self, raw: bytes) -> int | None:
        """`time_us` read off the raw frame without parsing it (Jetstream puts it up front)."""
        i = raw.find(_TIME_B, 0, 400)
        if i < 0:
            return None
        j = i + len(_TIME_B)
        while j < len(raw) and raw[j] == 0x20:
            j += 1
        k = j
        while k < len(raw) and 0x30 <= raw[k] <= 0x39 and k - j < 20:
            k += 1
        if k == j:
            return None
        t = int(raw[j:k])
        if self.cursor is None or t > self.cursor:
            self.cursor = t
        return t

    def feed(self, raw: bytes | str) -> Tweet | PostDeleted | None:
        c = self.counts
        c.events += 1
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        if len(raw) > self.max_event_bytes:
            self._time_us(raw)
            c.oversized += 1
            return None
        t_us = self._time_us(raw)
        if _POST_B not in raw:  # identity, account, another collection
            c.other += 1
            return None
        # Every record says `"$type"`: a `$` beyond those is needed for a cashtag (a delete has none).
        if raw.count(b"$") == raw.count(_TYPE_B) and _DELETE_B not in raw:
            c.no_cashtag += 1
            return None
        try:
            ev = self.loads(raw)
        except ValueError:
            c.malformed += 1
            return None
        return self._event(ev, t_us)

    def _event(self, ev: object, t_us: int | None) -> Tweet | PostDeleted | None:
        c = self.counts
        if not isinstance(ev, dict):
            c.malformed += 1
            return None
        commit = ev.get("commit")
        if ev.get("kind") != "commit" or not isinstance(commit, dict) or commit.get("collection") != POST:
            c.other += 1
            return None
        did, rkey, op = ev.get("did"), commit.get("rkey"), commit.get("operation")
        if not (isinstance(did, str) and isinstance(rkey, str) and _DID_RE.match(did) and _RKEY_RE.match(rkey)):
            c.malformed += 1
            return None
        uri = post_uri(did, rkey)
        if op == "delete":
            if uri in self.kept_uris:
                if not self.deleted_uris.add(uri):  # the same delete again, after a resume
                    c.duplicate += 1
                    return None
                c.deleted += 1
                return PostDeleted(SOURCE, uri)
            c.other += 1
            return None
        if op != "create":
            c.other += 1
            return None
        record = commit.get("record")
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            c.malformed += 1
            return None
        langs = record.get("langs")
        if not _is_english(langs):
            c.not_english += 1
            return None
        tickers = normalize_tickers(facet_cashtags(record.get("facets")) + list(parse_cashtags(text)))
        if not tickers:
            c.no_cashtag += 1
            return None
        if not self.kept_uris.add(uri):
            c.duplicate += 1
            return None
        c.kept += 1
        when = _event_time(t_us if t_us is not None else ev.get("time_us"))
        created = _created_at(record.get("createdAt"), when)
        lang = next((x for x in langs if isinstance(x, str)), None) if isinstance(langs, list) else None
        return make_tweet(uri, created, did, text, tickers=tickers, lang=lang, source=SOURCE,
                          arrived=self.clock(), url=post_url(did, rkey))


def _event_time(t_us: object) -> datetime:
    if isinstance(t_us, int) and not isinstance(t_us, bool) and 0 < t_us < 2**62:
        try:
            return datetime.fromtimestamp(t_us / 1e6, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    return datetime.now(timezone.utc)


def _created_at(value: object, event_time: datetime) -> datetime:
    """The post's own createdAt, unless it is unreadable or well after the event (then the event's time)."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            t = to_utc(value)
        except (ValueError, OverflowError):
            return event_time
        return t if t <= event_time + MAX_FUTURE else event_time
    return event_time
