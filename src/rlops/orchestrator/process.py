"""Processes of supervised runs: start a worker as the leader of its own session, signal its whole
family, and tell whether it still lives.

A run's worker and its program share one process group whose id is the worker's pid, so a stop
reaches every child the program spawned (a script that forks env workers leaves no orphan). A
descendant that left the group (``setsid``) is found by its ancestry (``descendants``) and
signalled too. The worker's own output goes to a file, never to the process that started it:
closing the terminal, or killing the daemon, does not touch the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlops.orchestrator.descendants import outside_group, signal_each
from rlops.store.runs import process_alive

WORKER_LOG = "worker.log"  # the worker's own stderr (a traceback if it ever fails)


NICE_VARIABLE = "RLOPS_RUN_NICE"  # the worker takes it out of its environment: the program never sees it


def spawn_worker(run_dir: Path, nice: int = 0) -> int:
    """Start ``python -m rlops.orchestrator.worker RUN_DIR`` detached; return its pid (= its group id).
    A ``nice`` above 0 lowers the whole run's priority: the worker applies it before it starts the
    program (``lower_priority``)."""
    process = start_worker(run_dir, nice)
    _reap_later(process)
    return process.pid


def start_worker(run_dir: Path, nice: int = 0) -> subprocess.Popen:
    """``spawn_worker`` for a starter that waits for its worker itself and keeps its exit code (the
    Ray actor): the process is nobody else's to reap."""
    env = {**os.environ, NICE_VARIABLE: str(nice)} if nice else None
    with open(Path(run_dir) / WORKER_LOG, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "rlops.orchestrator.worker", str(run_dir)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True, env=env)


def lower_priority() -> None:
    """In a worker, before its program starts: the niceness ``spawn_worker`` was given, for this
    process (inherited by the program and its children) and for its session's autogroup. With
    autogroup scheduling (Linux's default, ``sched_autogroup_enabled``) the CPU is shared between
    sessions first, and every run leads its own session: a plain nice would change nothing, and
    twenty runs would leave the supervisor a twenty-first of the machine however light it is."""
    nice = int(os.environ.pop(NICE_VARIABLE, "0") or 0)
    if nice <= 0:
        return
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    try:
        Path("/proc/self/autogroup").write_text(str(nice), encoding="ascii")
    except OSError:
        pass  # no autogroup scheduling here: the process niceness is what counts


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to a run's whole process group, and to its worker's descendants that left the
    group; False if none of it is left. A SIGKILL goes to those descendants first, again until none
    is left (an orphan of a killed one becomes the worker's child), and to the group, worker
    included, last."""
    sent = False
    for _ in range(10 if signum == signal.SIGKILL else 1):
        outside = outside_group(pgid)
        sent = signal_each(outside, signum) or sent
        if not outside:
            break
        time.sleep(0.01)  # the killed ones' children become the worker's as they die
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return sent
    except PermissionError:  # a recycled group id that is not ours: nothing of the run is left in it
        return sent


def alive(pid: int) -> bool:
    """Running: a worker that exited but was not reaped yet (our own child) is a zombie, not alive."""
    return process_alive(pid) and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


_children: list[subprocess.Popen] = []


def _reap_later(process: subprocess.Popen) -> None:
    _children.append(process)
    reap_children()


def reap_children() -> None:
    """Workers started by this process are its children: collect the exited ones so none stays a zombie."""
    _children[:] = [child for child in _children if child.poll() is None]
