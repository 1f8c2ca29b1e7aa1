"""What the review screen shows, as plain functions: doubt order, filters, progress.

Kept apart from the widgets so the order (smallest margin between the top two classes
first) and the counts can be read and tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from finterm.records import Scored
from finterm.store.labels import margin, task_view

from .filters import Filters


@dataclass(frozen=True)
class ScoreRange:
    """The model's score (top probability) of the task under review, lo <= score <= hi."""

    lo: float = 0.0
    hi: float = 1.0

    @property
    def active(self) -> bool:
        return self.lo > 0.0 or self.hi < 1.0

    def matches(self, score: float) -> bool:
        return self.lo <= score <= self.hi

    def describe(self) -> str:
        return f"score {self.lo:.2f}–{self.hi:.2f}"

    @classmethod
    def parse(cls, text: str) -> "ScoreRange":
        """`0.2-0.6`, `20-60` (percent), `-0.5`, `0.8-` or empty (everything); ValueError otherwise."""
        s = text.strip().replace("%", "").replace("–", "-").replace(" ", "")
        if not s:
            return cls()
        lo_s, sep, hi_s = s.partition("-")
        if not sep:
            raise ValueError("give a range such as 0.2-0.6")
        vals = []
        for part, default in ((lo_s, 0.0), (hi_s, 1.0)):
            v = float(part) if part else default
            vals.append(v / 100.0 if v > 1.0 else v)
        lo, hi = vals
        if not (0.0 <= lo <= hi <= 1.0):
            raise ValueError("the range must lie within 0-1 (or 0-100 %), low first")
        return cls(lo, hi)


def doubt(sc: Scored, task: str) -> float:
    """The margin between the model's top two classes for `task` (small: doubtful)."""
    _, score, probs = task_view(sc, task)
    return margin(probs, score)


def doubt_order(items: list[Scored], task: str) -> list[int]:
    """Indices of `items`, least certain first; ties keep file order."""
    return sorted(range(len(items)), key=lambda i: (doubt(items[i], task), i))


def visible(items: list[Scored], order: list[int], task: str, filters: Filters, scores: ScoreRange,
            hide_reviewed: bool, reviewed: set[str]) -> list[int]:
    """The rows of `order` that pass the filters (reviewed: tweet ids corrected for `task`)."""
    out = []
    for i in order:
        sc = items[i]
        if not filters.matches(sc) or not scores.matches(task_view(sc, task)[1]):
            continue
        if hide_reviewed and sc.tweet.id in reviewed:
            continue
        out.append(i)
    return out


@dataclass(frozen=True)
class Progress:
    task: str
    reviewed: int
    total: int
    per_class: dict[str, int]


def progress(items: list[Scored], task: str, labels: dict[str, str], classes: list[str]) -> Progress:
    """Reviewed tweets of this file for `task` (labels: tweet id -> label), and how many per class."""
    ids = {sc.tweet.id for sc in items}
    per = {c: 0 for c in classes}
    done = 0
    for tid in ids:
        lab = labels.get(tid)
        if lab is not None:
            done += 1
            per[lab] = per.get(lab, 0) + 1
    return Progress(task, done, len(ids), per)
