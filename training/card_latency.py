"""The latency section of a model card: written at export, measured again with
`finterm-train bench DIR --card` (the one part of a card that depends on the machine's load)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from .common import TrainError

LATENCY_HEADING = "## Latency"


def latency_section(bench: dict, where: str) -> list[str]:
    """The model card's latency table (one per card generator and `finterm-train bench --card`)."""
    lines = [f"{LATENCY_HEADING} (median of repeated runs after warm-up; {where})", "",
             "| engine | shape | median ms | p90 ms | ms per tweet | tweets/s |", "|---|---|---|---|---|---|"]
    for eng, res in bench.items():
        for r in res.values():
            lines.append(f"| {eng} | {r['batch']} × {r['tokens']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | "
                         f"{r['ms_per_tweet']:.2f} | {r['tweets_per_second']:.0f} |")
    return [*lines, ""]


def measured_where() -> str:
    """Date and load of this machine, for reading a latency table (the load is its own noise)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load:.1f} on {os.cpu_count()} logical CPUs"


def card_path(folder: Path) -> Path:
    """The folder's MODEL_CARD.md; TrainError (one line) when there is none."""
    path = folder / "MODEL_CARD.md"
    if not path.is_file():
        raise TrainError(f"{path}: no model card to update (--card rewrites the card an export wrote)")
    return path


def refresh_card(folder: Path, bench: dict) -> Path:
    """Replace the latency section of a folder's MODEL_CARD.md (the rest is left as exported).

    Latency is the one part of a card that depends on the machine and its load at export time,
    so it is the one part worth measuring again on a quiet machine.
    """
    path = card_path(folder)
    old = path.read_text(encoding="utf-8").split("\n")
    start = next((i for i, line in enumerate(old) if line.startswith(LATENCY_HEADING)), None)
    new = latency_section(bench, measured_where() + ", `finterm-train bench --card`")
    if start is None:
        end = start = len(old) - (1 if old and old[-1] == "" else 0)
        new = ["", *new]
    else:  # the section as latency_section writes it: heading, blank, table, blank
        end = start + 1
        while end < len(old) and (old[end].startswith("|") or (old[end] == "" and end == start + 1)):
            end += 1
        if end < len(old) and old[end] == "":
            end += 1
    path.write_text("\n".join(old[:start] + new + old[end:]), encoding="utf-8")
    return path
