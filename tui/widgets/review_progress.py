"""The review screen's top lines: progress (reviewed / total, per class) and what is shown."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..filters import Filters
from ..palette import GLYPH, palette_for, sentiment_color
from ..render import safe, short_topic
from ..review_state import Progress, ScoreRange


class ReviewProgress(Static):
    """Always on screen, so the user sees how far the review has gone and what each class has."""

    DEFAULT_CSS = """
    ReviewProgress { height: 2; background: $panel; padding: 0 1; }
    """

    def show(self, pr: Progress, shown: int, marked: int, filters: Filters, scores: ScoreRange,
             hide_reviewed: bool, source: str = "") -> None:
        p = palette_for(self.app.theme)
        share = pr.reviewed / pr.total if pr.total else 0.0
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"Reviewing {pr.task}", style="bold")
        if source:
            t.append(f" · {safe(source, 40)}", style=p.muted)
        t.append(f"   reviewed {pr.reviewed:,} / {pr.total:,} ({share:.0%})", style="bold")
        width = 20
        done = round(width * share)
        t.append("  ")
        t.append("█" * done, style=p.bull)
        t.append("░" * (width - done), style=p.muted)
        t.append("\n")
        classes = list(pr.per_class.items())
        if pr.task != "sentiment":  # 20 topics do not fit on a line: the ones labelled so far
            classes = sorted(((c, n) for c, n in classes if n), key=lambda cn: -cn[1]) or [("no labels yet", 0)]
        for i, (cls, n) in enumerate(classes):
            if i:
                t.append("  ")
            if pr.task == "sentiment":
                t.append(f"{GLYPH.get(cls, '')} {cls} {n}", style=sentiment_color(p, cls) if n else p.muted)
            else:
                t.append(f"{short_topic(cls)} {n}" if n else cls, style="bold" if n else p.muted)
        t.append("   ")
        what = [f"{shown:,} shown"]
        if marked:
            what.append(f"{marked:,} marked")
        if filters.ticker:
            what.append(f"${safe(filters.ticker, 12)}")
        if filters.topic:
            what.append(short_topic(filters.topic))
        if filters.sentiment:
            what.append(filters.sentiment)
        if scores.active:
            what.append(scores.describe())
        if hide_reviewed:
            what.append("unreviewed only")
        t.append(" · ".join(what), style=p.muted)
        self.update(t)
