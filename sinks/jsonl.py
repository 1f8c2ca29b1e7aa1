"""The --headless sink: scored posts as JSON lines (UTF-8), flushed line by line.

Each line is flushed as written so pipes (`jq`, `head`) see posts as they are scored; a
closed reader (`| head`) marks the sink broken and calls `on_closed` so the run stops quietly.
"""

from __future__ import annotations

import json
from typing import BinaryIO

from finterm.records import Scored


class JsonlSink:
    """Writes `Scored.to_json_dict()` lines (UTF-8) to a binary stream, one flush per line."""

    name = "stdout"

    def __init__(self, out: BinaryIO, on_closed=None):
        self.out = out
        self.on_closed = on_closed
        self.broken = False
        self.lines = 0

    def __call__(self, batch: list[Scored]) -> None:
        if self.broken:
            return
        try:
            for s in batch:
                line = _line(s)
                self.out.write(line.encode("utf-8", "surrogatepass"))
                self.out.flush()
                self.lines += 1
        except (BrokenPipeError, ConnectionResetError):
            self.broken = True
            if self.on_closed:
                self.on_closed()
        except OSError as exc:
            if exc.errno in (32, 104):  # EPIPE, ECONNRESET
                self.broken = True
                if self.on_closed:
                    self.on_closed()
            else:
                raise

    def close(self) -> None:
        pass


def _line(s: Scored) -> str:
    """One JSON line; U+2028/U+2029 escaped too, since many line readers split on them."""
    text = json.dumps(s.to_json_dict(), ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"
