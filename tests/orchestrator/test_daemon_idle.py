"""A daemon started on the user's behalf leaves when its runs are done; one started on purpose
stays; both leave promptly on SIGTERM; ``rlops runs list`` says whether one supervises."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlops.cli.app import main
from rlops.orchestrator.daemon import daemon_pid

PROGRAMS = Path(__file__).parent / "programs"


def _daemon(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", "--orchestrator.poll-interval", "0.2",
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_supervising(process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while daemon_pid(Path("rlruns")) != process.pid:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)


def test_the_daemon_runs_start_launches_exits_once_its_run_is_done(capsys):
    assert main(["runs", "start", "--runner", "command", "--name", "quick", "--orchestrator.idle-exit-s", "1",
                 "--orchestrator.poll-interval", "0.2", "--", sys.executable, str(PROGRAMS / "steady.py"), "20",
                 "1"]) == 0
    capsys.readouterr()
    from rlops.orchestrator.daemon import _started

    spawned = _started[-1]
    spawned.wait(timeout=180)  # the run (about a second), then 1 s of idleness
    assert spawned.returncode == 0
    assert "nothing queued or running for 1 s: exiting" in Path("rlruns/daemon.log").read_text()
    assert main(["runs", "list"]) == 0
    out, err = capsys.readouterr()
    assert "quick" in out and "finished" in out
    assert "daemon: none supervises rlruns" in err


def test_an_explicit_daemon_stays_idle_is_listed_and_leaves_promptly_on_sigterm(capsys):
    explicit = _daemon("--orchestrator.idle-exit-s", "0.5")
    try:
        _wait_supervising(explicit)
        time.sleep(2.0)
        assert explicit.poll() is None  # asked for by name: it does not leave when idle
        assert main(["runs", "list"]) == 0
        assert f"daemon: pid {explicit.pid} supervises rlruns" in capsys.readouterr()[1]
        started = time.monotonic()
        os.kill(explicit.pid, signal.SIGTERM)
        explicit.wait(timeout=30)
        assert time.monotonic() - started < 2.0 and explicit.returncode == 0
    finally:
        if explicit.poll() is None:
            explicit.kill()
            explicit.wait()
    assert daemon_pid(Path("rlruns")) is None
