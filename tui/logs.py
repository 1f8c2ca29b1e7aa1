"""Logs go to a file, never over the screen."""

from __future__ import annotations

import logging
import os
from pathlib import Path


def default_log_path() -> Path:
    """$FINTERM_LOG, else $XDG_STATE_HOME/finterm/finterm.log (~/.local/state/finterm/finterm.log)."""
    if os.environ.get("FINTERM_LOG"):
        return Path(os.environ["FINTERM_LOG"]).expanduser()
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "finterm" / "finterm.log"


def log_to_file(path: str | Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send the `finterm` loggers to a file (once); returns the path, or None if it can't be written."""
    logger = logging.getLogger("finterm")
    for h in logger.handlers:
        if isinstance(h, logging.FileHandler):
            return Path(h.baseFilename)
    p = Path(path).expanduser() if path else default_log_path()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(p, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(min(logger.level or level, level))
    logger.propagate = False  # nothing reaches stderr while the screen is ours
    return p
