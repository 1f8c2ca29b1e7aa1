"""The headless front end: runs a pipeline whose sink is stdout, says the source's trouble on
stderr, and ends with a one-line summary (the UI is the other front end, in tui/).

Each line is flushed as written so pipes (`jq`, `head`) see tweets as they are scored.
SIGINT/SIGTERM (finterm/signals.py) stop the run at once: reading stops, the batch being
scored is written, the sinks are closed, and the summary says how many were scored, the
last one's id and, for a replay, the `--skip N` that resumes it; the exit code is 130/143.
A closed stdout (`| head`) stops the run quietly.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import time
from typing import TextIO

from finterm.pipeline.runner import Pipeline
from finterm.records import SourceStatus
from finterm.signals import StopController
from finterm.sinks.jsonl import JsonlSink

log = logging.getLogger("finterm.headless")


def summary_line(pipeline: Pipeline) -> str:
    st = pipeline.stats
    clf = pipeline.classifier

    def ms(x):
        return "-" if x is None else f"{x:.1f} ms"

    models = getattr(clf, "models", {}) or {}
    names = ", ".join(f"{task} {m.name}" for task, m in models.items()) or "-"
    engine = getattr(clf, "engine_name", "?")
    share = getattr(clf, "bridged_share", None)
    total, bridged = share() if callable(share) else (0, 0)
    if bridged:
        engine += f" ({bridged:,} of {total:,} model batches on onnxruntime while DeepSparse compiled)"
    return (f"finterm: {st.count:,} tweets in {st.elapsed_s:.1f} s ({st.rate:.1f} tweets/s) · "
            f"engine {engine} · batch latency p50 {ms(st.latency_p50)} "
            f"p99 {ms(st.latency_p99)} · arrival-to-scored p50 {ms(st.e2e_p50)} p99 {ms(st.e2e_p99)} · "
            f"models {names}{alerts_summary(pipeline)}{source_summary(pipeline)}")


def source_summary(pipeline: Pipeline) -> str:
    """` · sources: bluesky live (1 reconnect); stocktwits stopped: ...` for live sources, else ""."""
    if not getattr(pipeline.source, "live", False):
        return ""
    last = getattr(pipeline, "last_source_status", None) or pipeline.last_status
    parts = (last.parts or (last,)) if last is not None else ()
    said = "; ".join(part_line(p) for p in parts)
    deleted = getattr(pipeline, "deleted", 0)
    return (f" · sources: {said}" if said else "") + (f" · {deleted:,} deleted by their authors" if deleted else "")


#: How a source's state reads in a line (the status bar says the same).
STATE_WORDS = {"rate_limited": "rate-limited", "error": "stopped"}


def part_line(st: SourceStatus) -> str:
    """`bluesky live (2 reconnects)`, `stocktwits rate-limited until 12:00:03 UTC`, `x stopped: why`."""
    words = [st.source] if st.source else []
    words.append(STATE_WORDS.get(st.state, st.state))
    line = " ".join(words)
    if st.state == "rate_limited" and st.next_retry_at:
        line += " until " + time.strftime("%H:%M:%S UTC", time.gmtime(st.next_retry_at))
    elif st.state in ("error", "ended") and st.detail:
        line += f": {st.detail}"
    if st.attempt:
        line += f" ({st.attempt:,} {'reconnect' if st.attempt == 1 else 'reconnects'})"
    return line


def alerts_summary(pipeline: Pipeline) -> str:
    """` · 3 alerts` when the run has alert rules (the alerts sink counts them), else ""."""
    for sink in getattr(pipeline, "sinks", ()):
        if getattr(sink, "name", "") == "alerts" and callable(getattr(sink, "summary", None)):
            return f" · {sink.summary()}"
    return ""


class StatusNotices:
    """Headless runs have no status bar: the source's trouble (reconnecting, the switch to
    polling, errors) goes to stderr as `finterm:` lines, once per change of state."""

    SAY = ("reconnecting", "polling", "rate_limited", "error")

    def __init__(self, err: TextIO):
        self.err = err
        self.last: tuple[str, str] | None = None
        #: Merged sources: the last (state, detail) said for each.
        self.last_part: dict[str, tuple[str, str]] = {}

    def drain(self, events) -> None:
        while True:
            try:
                ev = events.get_nowait()
            except queue.Empty:
                return
            if not isinstance(ev, SourceStatus):
                continue
            if ev.parts:  # merged sources: each one's own changes, named
                for part in ev.parts:
                    self._part(part)
                continue
            key = (ev.state, ev.detail if ev.state != "reconnecting" else "")
            if key == self.last:
                continue
            self.last = key
            if ev.state not in self.SAY:
                continue
            line = f"finterm: {ev.state.replace('_', '-')}" + (f": {ev.detail}" if ev.detail else "")
            if ev.state == "reconnecting" and ev.next_retry_at:
                line += f" (next try in {max(0.0, ev.next_retry_at - time.time()):.0f} s)"
            self._write(line)

    def _part(self, st: SourceStatus) -> None:
        key = (st.state, st.detail if st.state != "reconnecting" else "")
        if self.last_part.get(st.source) == key:
            return
        self.last_part[st.source] = key
        if st.state not in self.SAY:
            return
        line = f"finterm: {st.source}: {STATE_WORDS.get(st.state, st.state)}" + (f": {st.detail}" if st.detail else "")
        if st.state == "reconnecting" and st.next_retry_at:
            line += f" (next try in {max(0.0, st.next_retry_at - time.time()):.0f} s)"
        self._write(line)

    def _write(self, line: str) -> None:
        try:
            self.err.write(line + "\n")
            self.err.flush()
        except OSError:
            pass


def backlog_summary(pipeline: Pipeline) -> str:
    """` · backlog peak 256 waiting, oldest 1.2 s` (posts read but not yet scored), else ""."""
    st = pipeline.stats
    peak = getattr(st, "backlog_peak", 0)
    if not peak:
        return ""
    return f" · backlog peak {peak:,} waiting, oldest {getattr(st, 'wait_peak_s', 0.0):.1f} s"


def stop_line(pipeline: Pipeline, signame: str) -> str:
    """After a signal: what was scored, the last one's id, what was read but not scored, and
    for a replay the `--skip` that resumes it with no row lost or repeated."""
    n = pipeline.stats.count
    last = getattr(pipeline, "last_id", None)
    line = f"finterm: stopped by {signame} · {n:,} scored" + (f", the last id {last}" if last and n else "")
    unscored = getattr(pipeline, "unscored", 0)
    if unscored:
        line += f" · {unscored:,} read but not scored"
        if getattr(pipeline, "gave_up", False):
            line += " (the batch still in the engine was given up)"
    resume = getattr(pipeline.source, "resume_skip", None)
    if callable(resume):
        line += f" · resume with --skip {resume(n)}"
    return line


def run_headless(pipeline: Pipeline, sink: JsonlSink, err: TextIO | None = None,
                 stop: StopController | None = None) -> int:
    """Run to the end of the source (or a signal); returns the exit code (130/143 after a
    signal, 1 after a failure, else 0). `stop` is the CLI's controller, installed before the
    models loaded; without one, the handlers are set here for the run."""
    err = err or sys.stderr
    own = stop is None
    stop = stop or StopController().install()
    stop.running(pipeline.stop)
    notices = StatusNotices(err)
    try:
        pipeline.start()
        while not pipeline.join(timeout=0.2):
            notices.drain(pipeline.events)
            if pipeline.halted:  # a signal, a closed stdout: the batch in flight, briefly, then out
                pipeline.finish()
                break
        notices.drain(pipeline.events)
    finally:
        if own:
            stop.uninstall()
    if sink.broken:
        _silence_stdout()
    try:
        err.write(summary_line(pipeline) + backlog_summary(pipeline) + "\n")
        if stop.requested:
            err.write(stop_line(pipeline, stop.name) + "\n")
        if pipeline.failed:
            err.write(f"finterm: {pipeline.failed}\n")
        err.flush()
    except OSError:
        pass
    code = (stop.exit_code or 1) if stop.requested else (1 if pipeline.failed else 0)
    if own:
        return code
    return leave(pipeline, code, now=stop.requested)


def leave(pipeline: Pipeline, code: int, now: bool = False) -> int:
    """The exit code; but after a stop signal (`now`), or when the pipeline gave up a batch
    still inside the engine, end the process here (output flushed, files closed already): the
    interpreter's shutdown would wait for engine threads (a DeepSparse compile under way holds
    the exit for as long as it takes, seen: 20 s on a busy machine) or tear down under them."""
    if not now and not pipeline.running:
        return code
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _silence_stdout() -> None:
    """After a broken pipe, point fd 1 at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
