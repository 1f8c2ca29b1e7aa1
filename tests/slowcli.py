"""`python -m tests.slowcli ARGS...`: the real `finterm` command (finterm.cli.main, its signal
handling, its front ends) with a deliberately slow engine, for the signal tests.

The environment says how slow and where to write down what happened, one line per event,
in order, so a test can check the order of things without measuring time:

- FINTERM_SLOW_LOG: the events file: `start N` / `end N` around each batch the classifier
  scores, `signal NAME` when a stop signal reaches finterm's handler, `loading` when the
  models start loading;
- FINTERM_SLOW_GRACE: how long a stop waits for the batch in flight before giving it up
  (pipeline.runner.STOP_GRACE_S; default 60 here, so only `hang` ever gives one up);
- FINTERM_SLOW_MODE: `batch` (each batch takes FINTERM_SLOW_S seconds, default 0.2),
  `gate` (as `batch`, but batch FINTERM_SLOW_GATE and later ones, default 2, wait for a
  signal before they go on: so a signal always finds a batch in flight), `hang` (the second
  batch never ends: the stop gives it up), `hang_close` (closing the stdout sink never ends:
  only a second signal ends the process), `startup` (loading the models waits for a signal).
"""

from __future__ import annotations

import os
import sys
import threading
import time

LOG = os.environ.get("FINTERM_SLOW_LOG", "")
MODE = os.environ.get("FINTERM_SLOW_MODE", "batch")
SLOW_S = float(os.environ.get("FINTERM_SLOW_S", "0.2"))
GATE = int(os.environ.get("FINTERM_SLOW_GATE", "2"))
_lock = threading.RLock()  # the signal handler notes too, maybe inside a note
_signalled = threading.Event()


def note(line: str) -> None:
    if not LOG:
        return
    with _lock, open(LOG, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def install() -> None:
    from finterm import signals, wiring
    from finterm.engine.classifier import Classifier
    from finterm.pipeline import runner

    runner.STOP_GRACE_S = float(os.environ.get("FINTERM_SLOW_GRACE", "60"))

    real_on_signal = signals.StopController._on_signal

    def on_signal(self, signum, may_raise):
        note(f"signal {signals.signal_name(signum)}")
        _signalled.set()
        return real_on_signal(self, signum, may_raise)

    signals.StopController._on_signal = on_signal

    real_score = Classifier.score
    calls = [0]

    def score(self, tweets):
        calls[0] += 1
        n = calls[0]
        note(f"start {n} {len(tweets)}")
        if MODE == "gate" and n >= GATE:
            _signalled.wait()
        time.sleep(SLOW_S)
        if MODE == "hang" and n >= 2:
            threading.Event().wait()  # never: only a second signal ends this
        out = real_score(self, tweets)
        note(f"end {n}")
        return out

    Classifier.score = score

    real_build = wiring.build_classifier

    def build_classifier(*args, **kwargs):
        note("loading")
        if MODE == "startup":
            time.sleep(600)  # a signal's handler runs (and raises) inside this sleep
        return real_build(*args, **kwargs)

    wiring.build_classifier = build_classifier

    if MODE == "hang_close":
        from finterm.sinks.jsonl import JsonlSink

        def close(self):
            note("closing")
            threading.Event().wait()  # never

        JsonlSink.close = close


def main() -> int:
    install()
    from finterm.cli import main as finterm_main

    return finterm_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
