"""Stop signals and the screen: SIGINT/SIGTERM quit a Textual app the way `q` does (its
unmount stops the pipeline and closes files), and a second signal, which ends the process at
once (finterm/signals.py), first gives the terminal back (cursor, mouse, normal screen, the
tty's modes) so the shell is usable afterwards."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from finterm.signals import StopController

log = logging.getLogger("finterm.tui.stopping")

#: What Textual switches on, switched off: mouse reports, bracketed paste, hidden cursor, the
#: alternate screen.
RESET = b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?2004l\x1b[?25h\x1b[?1049l"
#: How long a signal that came before the app's loop runs keeps trying to reach it.
REACH_S = 30.0


def quit_on_stop(app, stop: StopController) -> None:
    """The first stop signal exits `app` (from a helper thread waiting for it: the handler runs
    inside the app's own loop, where `call_from_thread` is not allowed); a second restores the
    terminal before the process ends."""

    def exit_app() -> None:
        deadline = time.monotonic() + REACH_S
        while time.monotonic() < deadline:
            try:
                app.call_from_thread(app.exit)
                return
            except RuntimeError:  # the loop is not running yet (or any more)
                time.sleep(0.05)
            except Exception:
                log.exception("exiting the app on a signal")
                return

    def waiter() -> None:  # a thread of its own: the handler itself only sets the event
        stop.event.wait()
        exit_app()

    threading.Thread(target=waiter, name="finterm-stop", daemon=True).start()
    stop.on_force(terminal_restorer())


def terminal_restorer():
    """A hook that puts the terminal back as it is now (call before the app takes it)."""
    try:
        import termios

        fd = sys.__stdin__.fileno()
        attrs = termios.tcgetattr(fd)
    except Exception:  # not a terminal (tests, pipes): nothing to restore
        return lambda signum: None

    def restore(signum: int) -> None:
        try:
            os.write(sys.__stdout__.fileno(), RESET)
        except Exception:
            pass
        try:
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except Exception:
            pass

    return restore
