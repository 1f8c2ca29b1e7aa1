"""Prompt, clean stops (issue 22), through the real command in a subprocess with a deliberately
slow engine (tests/slowcli.py): no batch starts after a signal, the batch in flight is
written, the summary names the last scored row and the `--skip` that resumes it, the exit
code is 130/143, a second signal ends the process at once, a signal while the models load
still gets its line. Nothing here measures time: the order of events is what is checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import polars as pl
import pytest

from finterm.signals import StopController, Stopped

pytestmark = pytest.mark.slow

ROWS = 600


def write_replay(path, n=ROWS):
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"created_at": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", "id": f"r{i}",
                                "text": f"$AAPL stock up {i}" if i % 2 else f"$TSLA falls {i}"}) + "\n")
    return path


def slow_finterm(args, cwd, env, log, mode="gate", slow_s="0.2", grace_s="60"):
    env = dict(env, FINTERM_SLOW_LOG=str(log), FINTERM_SLOW_MODE=mode, FINTERM_SLOW_S=slow_s,
               FINTERM_SLOW_GRACE=grace_s)
    return subprocess.Popen([sys.executable, "-m", "tests.slowcli", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def events(log) -> list[str]:
    try:
        return log.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for_event(log, prefix, proc, deadline_s=120):
    end = time.monotonic() + deadline_s
    while not any(e.startswith(prefix) for e in events(log)):
        assert proc.poll() is None, f"finterm ended before {prefix!r}: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < end, f"never saw {prefix!r} in {events(log)}"
        time.sleep(0.02)


def ids(stdout: bytes) -> list[str]:
    return [json.loads(x)["id"] for x in stdout.decode("utf-8").splitlines()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_finishes_the_batch_in_flight_then_stops_with_a_resumable_summary(tmp_path, cli_env, model_args, finterm, sig):
    src = write_replay(tmp_path / "tweets.jsonl")
    log, rec = tmp_path / "events.txt", tmp_path / "rec.parquet"
    proc = slow_finterm(["--replay", src, "--speed", "max", "--headless", "--batch-size", "8", "--record", rec,
                         *model_args], tmp_path, cli_env, log)
    wait_for_event(log, "start 2", proc)  # the second batch is in flight (it waits for the signal)
    proc.send_signal(sig)
    rest = proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    got = ids(rest)
    n = len(got)
    assert got == [f"r{i}" for i in range(n)] and 0 < n < ROWS  # in order, none twice, not all

    ev = events(log)
    at = ev.index(f"signal {signal.Signals(sig).name}")
    assert not [e for e in ev[at:] if e.startswith("start")], ev  # no batch starts after the signal
    starts = [e.split()[1] for e in ev if e.startswith("start")]
    assert starts == [e.split()[1] for e in ev if e.startswith("end")]  # the one in flight was finished
    assert n == sum(int(e.split()[2]) for e in ev if e.startswith("start"))  # and written

    lines = err.strip().splitlines()
    assert f"finterm: {n:,} tweets in" in lines[-2]
    assert lines[-1].startswith(f"finterm: stopped by {signal.Signals(sig).name} · {n:,} scored, the last id r{n - 1}")
    assert lines[-1].endswith(f" · resume with --skip {n}") and n == 8 + 256  # the first batch, the one in flight
    assert pl.read_parquet(rec)["id"].to_list() == got  # the recording was flushed and closed

    again = finterm("--replay", src, "--speed", "max", "--headless", "--skip", str(n), *model_args)
    assert again.returncode == 0, again.stderr.decode()
    assert got + ids(again.stdout) == [f"r{i}" for i in range(ROWS)]  # no row lost or repeated


def test_a_batch_stuck_in_the_engine_is_given_up_and_the_run_still_ends(tmp_path, cli_env, model_args):
    src = write_replay(tmp_path / "tweets.jsonl")
    log = tmp_path / "events.txt"
    proc = slow_finterm(["--replay", src, "--speed", "max", "--headless", "--batch-size", "8", *model_args],
                        tmp_path, cli_env, log, mode="hang", grace_s="0.5")
    wait_for_event(log, "start 2", proc)  # the second batch never ends
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 143, err
    assert ids(out) == [f"r{i}" for i in range(8)]  # the first batch; the stuck one is not written
    last = err.strip().splitlines()[-1]
    assert last.startswith("finterm: stopped by SIGTERM · 8 scored, the last id r7 · ") and "given up" in last
    assert last.endswith(" · resume with --skip 8") and "Traceback" not in err


def test_a_second_signal_ends_the_process_at_once(tmp_path, cli_env, model_args):
    src = write_replay(tmp_path / "tweets.jsonl")
    log = tmp_path / "events.txt"
    proc = slow_finterm(["--replay", src, "--speed", "max", "--headless", "--batch-size", "8", *model_args],
                        tmp_path, cli_env, log, mode="hang_close", slow_s="0")
    proc.stdout.readline()
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe flowing
    proc.send_signal(signal.SIGTERM)
    wait_for_event(log, "closing", proc)  # closing the output never ends: the first signal cannot end the run
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == 143, proc.stderr.read().decode()
    assert events(log).count("signal SIGTERM") == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_models_load_still_gets_its_line(tmp_path, cli_env, model_args, sig):
    src = write_replay(tmp_path / "tweets.jsonl", 10)
    log = tmp_path / "events.txt"
    proc = slow_finterm(["--replay", src, "--speed", "max", "--headless", *model_args], tmp_path, cli_env, log,
                        mode="startup")
    wait_for_event(log, "loading", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig and out == b""
    assert err.decode() == (f"finterm: stopped by {signal.Signals(sig).name} while starting (loading the models); "
                            "nothing scored\n")


def test_label_review_stops_between_chunks(tmp_path, cli_env, model_args):
    src = write_replay(tmp_path / "tweets.jsonl")
    log = tmp_path / "events.txt"
    proc = slow_finterm(["label", src, "--labels", tmp_path / "labels.parquet", *model_args], tmp_path, cli_env, log)
    wait_for_event(log, "start 2", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    ev = events(log)
    done = sum(int(e.split()[2]) for e in ev if e.startswith("start"))
    assert proc.returncode == 143, err.decode()
    assert not [e for e in ev[ev.index("signal SIGTERM"):] if e.startswith("start")] and done == 512
    assert err.decode().strip().splitlines()[-1] == (
        f"finterm label: stopped by SIGTERM · {done:,} of {ROWS:,} tweets scored; no labels changed")
    assert not (tmp_path / "labels.parquet").exists()


def test_the_screen_quits_on_sigterm_and_says_where_it_stopped(tmp_path, cli_env, model_args):
    """The Textual app on a pseudo-terminal: SIGTERM quits it as `q` does, then the line."""
    import pty
    import select

    src = write_replay(tmp_path / "tweets.jsonl")
    log = tmp_path / "events.txt"
    env = dict(cli_env, FINTERM_SLOW_LOG=str(log), FINTERM_SLOW_MODE="gate", FINTERM_SLOW_S="0.05",
               TERM="xterm-256color", COLUMNS="120", LINES="40")
    pid, fd = pty.fork()
    if pid == 0:  # the child: finterm on the terminal
        try:
            os.chdir(tmp_path)
            os.execve(sys.executable, [sys.executable, "-m", "tests.slowcli", "--replay", str(src), "--speed", "1",
                                       *map(str, model_args)], env)
        finally:
            os._exit(127)
    out = b""

    def read_some(wait_s=0.2):
        nonlocal out
        r, _, _ = select.select([fd], [], [], wait_s)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return False
        return True

    end = time.monotonic() + 120
    while not any(e.startswith("start 2") for e in events(log)):  # the screen is up and scoring
        assert time.monotonic() < end, out[-2000:]
        read_some()
    os.kill(pid, signal.SIGTERM)
    status = None
    while time.monotonic() < end:
        read_some()
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    while read_some(0.05) and select.select([fd], [], [], 0)[0]:
        pass
    os.close(fd)
    assert status is not None and os.waitstatus_to_exitcode(status) == 143, out[-2000:]
    assert b"finterm: stopped by SIGTERM" in out and b"resume with --skip" in out
    assert b"Traceback" not in out


# -- the controller itself, in-process -----------------------------------------------------------
def test_controller_raises_while_starting_and_calls_back_once_running():
    stop = StopController()
    stop.starting()
    with pytest.raises(Stopped) as e:
        stop._on_signal(signal.SIGTERM, may_raise=True)
    assert e.value.exit_code == 143 and stop.exit_code == 143 and stop.name == "SIGTERM"

    later = StopController()
    called = []
    later.running(lambda: called.append("stop"))
    later.request(signal.SIGINT)
    assert called == ["stop"] and later.requested and later.exit_code == 130
    late = []
    later.on_stop(lambda: late.append(1))  # registered after the signal: called at once
    assert late == [1]


def test_controller_holds_a_signal_inside_a_critical_block_until_it_ends():
    """finterm score's use: no `running`, so a signal raises where the main thread is, except
    inside critical() (a part being written), which raises as it ends."""
    stop = StopController()
    steps = []
    with pytest.raises(Stopped) as e:
        with stop.critical():
            stop._on_signal(signal.SIGINT, may_raise=True)  # noted, not raised here
            steps.append("part written")
        steps.append("never")
    assert steps == ["part written"] and e.value.exit_code == 130
    with stop.critical_quiet():  # clean-up after the stop: nothing raised
        steps.append("rejects rebuilt")
    assert steps[-1] == "rejects rebuilt"
    with pytest.raises(Stopped):
        stop.check()
    assert StopController().check() is None  # no signal: nothing to raise
