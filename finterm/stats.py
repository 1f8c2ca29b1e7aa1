"""Small statistics every room reports the same way (status bar, headless summary, bench/)."""

from __future__ import annotations

from typing import Sequence


def percentile(xs: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (0..1) of `xs`; None when there is nothing to rank."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]
