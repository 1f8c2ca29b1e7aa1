"""Filtered-stream rules: built from the watchlist and config, synced without touching others'.

Our rules carry a tag starting with `finterm:`, so a sync can tell them from rules another
app (or the user, by hand) put on the same X project: those are never deleted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Iterable

from finterm.errors import ConfigError
from finterm.text import normalize_tickers

log = logging.getLogger(__name__)

TAG_PREFIX = "finterm:"
WATCHLIST_TAG = "finterm:watchlist"
CUSTOM_TAG = "finterm:rule"

_TICKER_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}(?:[._][A-Z0-9]{1,3})?$")


@dataclass(frozen=True)
class Rule:
    value: str
    tag: str | None = None
    id: str | None = None

    @property
    def ours(self) -> bool:
        return bool(self.tag) and self.tag.startswith(TAG_PREFIX)


@dataclass
class SyncPlan:
    """What a sync does: add the missing, delete our stale ones, keep everything else."""

    add: list[Rule] = field(default_factory=list)
    delete: list[Rule] = field(default_factory=list)
    #: Existing rules (ours or not) whose value is one we want: tweets they match are ours.
    keep: list[Rule] = field(default_factory=list)


def watchlist_rules(tickers: Iterable[str], max_length: int = 512, exclude_retweets: bool = True) -> list[str]:
    """Cashtag rules `($AAPL OR $TSLA ...) -is:retweet`, as few as fit in `max_length` each."""
    suffix = " -is:retweet" if exclude_retweets else ""
    terms = []
    for t in normalize_tickers(tickers):
        if not t:
            continue
        if not _TICKER_RE.match(t):
            log.warning("watchlist entry %r is not a ticker; left out of the X rules", t[:20])
            continue
        terms.append("$" + t)

    def render(group: list[str]) -> str:
        body = group[0] if len(group) == 1 else "(" + " OR ".join(group) + ")"
        return body + suffix

    rules: list[str] = []
    group: list[str] = []
    for term in terms:
        if group and len(render(group + [term])) > max_length:
            rules.append(render(group))
            group = []
        group.append(term)
    if group:
        rules.append(render(group))
    return rules


def desired_rules(
    watchlist: Iterable[str], custom: Iterable[str], max_length: int = 512, exclude_retweets: bool = True
) -> list[Rule]:
    """The tagged rules finterm wants on the stream; a custom rule that is too long is a ConfigError."""
    out = [Rule(v, WATCHLIST_TAG) for v in watchlist_rules(watchlist, max_length, exclude_retweets)]
    for value in dict.fromkeys(r.strip() for r in custom):
        if not value:
            continue
        if len(value) > max_length:
            raise ConfigError(
                f"x.rules entry is {len(value)} characters; the limit is {max_length}: {value[:40]!r}..."
            )
        out.append(Rule(value, CUSTOM_TAG))
    seen: set[str] = set()
    return [r for r in out if not (r.value in seen or seen.add(r.value))]


def plan_sync(existing: Iterable[Rule], desired: Iterable[Rule]) -> SyncPlan:
    """Add rules whose value is missing, delete our own rules no longer wanted, leave the rest.

    A rule someone else added with exactly one of our values already delivers those tweets
    (X refuses a duplicate value), so it is kept and counted as ours for matching.
    """
    existing = list(existing)
    wanted = {r.value: r for r in desired}
    have = {r.value for r in existing}
    plan = SyncPlan()
    plan.add = [r for v, r in wanted.items() if v not in have]
    for r in existing:
        if r.value in wanted:
            plan.keep.append(r)
        elif r.ours:
            plan.delete.append(r)
    return plan


def search_queries(values: Iterable[str], max_length: int = 512) -> list[str]:
    """Rule values OR-ed into as few recent-search queries as fit in `max_length`."""
    values = [v for v in values if v]
    if len(values) == 1:
        return values
    queries: list[str] = []
    group: list[str] = []

    def render(g: list[str]) -> str:
        return g[0] if len(g) == 1 else " OR ".join(f"({v})" for v in g)

    for v in values:
        if group and len(render(group + [v])) > max_length:
            queries.append(render(group))
            group = []
        group.append(v)
    if group:
        queries.append(render(group))
    return queries
