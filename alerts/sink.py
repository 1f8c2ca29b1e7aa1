"""The alerts sink: the engine inside the pipeline, and where its alerts go.

`AlertSink(batch)` is called by the scoring thread with each scored batch, in order; each
alert is appended to `--alerts FILE` (one JSON object a line, flushed), handed to the
listeners (the UI's event queue), and queued for `alerts.command`. The command runs in a
background thread, one alert at a time with the alert's JSON on stdin, under a timeout; a
command that fails, hangs or cannot start is logged and counted, and never stops the run.
Scoring never waits for it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from finterm.errors import InputError
from finterm.records import Scored

from .engine import Alert, AlertEngine
from .rules import Rule

log = logging.getLogger("finterm.alerts")

#: Alerts waiting for the command at most; more are dropped (and counted) rather than pile up.
MAX_PENDING = 200
#: At the end of a run, how long the command thread may take for what is still queued.
CLOSE_WAIT_S = 30.0


def alert_line(alert: Alert) -> str:
    return json.dumps(alert.to_json_dict(), ensure_ascii=False) + "\n"


class CommandRunner:
    """Runs `command` (through the shell) once per alert, in a thread of its own."""

    def __init__(self, command: str, timeout_s: float = 10.0) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.ran = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._q: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="finterm-alert-command", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert) -> None:
        if self._q.qsize() >= MAX_PENDING:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("alert command is behind: %d alerts dropped so far", self.dropped)
            return
        self._q.put(alert)

    def _work(self) -> None:
        while True:
            alert = self._q.get()
            if alert is None:
                return
            try:
                self.run_one(alert)
            except Exception:  # never let one alert end the thread
                log.exception("alert command")

    def run_one(self, alert: Alert) -> bool:
        """Run the command for one alert; True when it exited 0 in time."""
        data = alert_line(alert).encode("utf-8")
        try:
            proc = subprocess.Popen(self.command, shell=True, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return self._failed(alert, f"cannot start: {exc.strerror or exc}")
        try:
            _, err = proc.communicate(data, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return self._failed(alert, f"still running after {self.timeout_s:g} s; stopped")
        except OSError as exc:  # the command closed its stdin early (EPIPE) and more
            _kill(proc)
            return self._failed(alert, f"{exc.strerror or exc}")
        self.ran += 1
        if proc.returncode != 0:
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()
            return self._failed(alert, f"exit {proc.returncode}" + (f": {tail[-1][:200]}" if tail else ""))
        return True

    def _failed(self, alert: Alert, why: str) -> bool:
        self.failed += 1
        self.last_error = why
        log.warning("alert command for %s %s failed: %s", alert.rule, alert.ticker, why)
        return False

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Let the queued alerts run (for at most `wait_s`), then stop the thread."""
        self._q.put(None)
        self._thread.join(wait_s)
        if self._thread.is_alive():
            log.warning("alert command: %d alerts not run at exit", self._q.qsize())


def _kill(proc: subprocess.Popen) -> None:
    """Stop the command and anything it started (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.communicate(timeout=5)
    except Exception:
        pass


class AlertSink:
    """A pipeline sink (`sink(batch)`, `close()`) that raises alerts and hands them on."""

    name = "alerts"

    def __init__(self, rules: Iterable[Rule], path: str | Path | None = None, command: str | None = None,
                 command_timeout_s: float = 10.0, listeners: Iterable[Callable[[Alert], None]] = ()) -> None:
        self.engine = AlertEngine(rules)
        self.path = Path(path).expanduser() if path else None
        self.listeners = list(listeners)
        self.count = 0
        self.history_count = 0
        self._file = None
        if self.path is not None:
            if self.path.is_dir():
                raise InputError(f"{self.path}: is a folder; --alerts needs a file name")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot write alerts to {self.path}: {exc.strerror or exc}") from None
        self.command = CommandRunner(command, command_timeout_s) if command else None
        self.started = time.monotonic()

    @property
    def rules(self) -> list[Rule]:
        return self.engine.rules

    def warm(self, history: Iterable[Scored]) -> list[Alert]:
        """Run the engine over a recording's recent history (before the run): baselines and
        cooldowns pick up where the last run left them. Its alerts come back marked `history`;
        they are not written, run or passed to the listeners."""
        alerts = [replace(a, history=True) for a in self.engine.add_batch(history)]
        self.history_count += len(alerts)
        return alerts

    def __call__(self, batch: list[Scored]) -> None:
        alerts = self.engine.add_batch(batch)
        if not alerts:
            return
        if self._file is not None:
            self._file.write("".join(alert_line(a) for a in alerts))
            self._file.flush()
        self.count += len(alerts)
        for a in alerts:
            log.info("alert: %s", a.headline())
            for listener in self.listeners:
                try:
                    listener(a)
                except Exception:
                    log.exception("alert listener")
            if self.command is not None:
                self.command.submit(a)

    def summary(self) -> str:
        """`3 alerts` (and what the command made of them), for the headless summary line."""
        text = f"{self.count:,} alert{'s' if self.count != 1 else ''}"
        c = self.command
        if c is not None and (c.failed or c.dropped):
            text += f" (command failed {c.failed:,}" + (f", skipped {c.dropped:,}" if c.dropped else "") + ")"
        return text

    def close(self) -> None:
        if self.command is not None:
            self.command.close()
        if self._file is not None:
            self._file.close()
            self._file = None
