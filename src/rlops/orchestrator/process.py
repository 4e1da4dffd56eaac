"""Processes of supervised runs: start a worker as the leader of its own session, signal its whole
family, and tell whether it still lives.

A run's worker and its program share one process group whose id is the worker's pid, so a stop
reaches every child the program spawned (a script that forks env workers leaves no orphan). A
descendant can leave the group (``setsid``, a daemonizing grandchild): the worker is a child
subreaper (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``), so such a process, once orphaned, becomes
the worker's child instead of init's and stays findable by its ancestry in ``/proc``. A signal to
a run goes to its group and to every descendant of its worker outside the group. Where there is
no ``prctl`` or ``/proc`` (not Linux), only the group is signalled: a process that left it
escapes. The worker's own output goes to a file, never to the process that started it: closing
the terminal, or killing the daemon, does not touch the run.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlops.store.runs import process_alive

WORKER_LOG = "worker.log"  # the worker's own stderr (a traceback if it ever fails)
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def spawn_worker(run_dir: Path) -> int:
    """Start ``python -m rlops.orchestrator.worker RUN_DIR`` detached; return its pid (= its group id)."""
    with open(Path(run_dir) / WORKER_LOG, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "rlops.orchestrator.worker", str(run_dir)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                   close_fds=True)
    _reap_later(process)
    return process.pid


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to a run's whole process group, and to its worker's descendants that left the
    group; False if none of it is left. A SIGKILL goes to those descendants first, again until none
    is left (an orphan of a killed one becomes the worker's child), and to the group, worker
    included, last."""
    sent = False
    for _ in range(10 if signum == signal.SIGKILL else 1):
        escaped = _escaped(pgid)
        sent = _kill_each(escaped, signum) or sent
        if not escaped:
            break
        time.sleep(0.01)  # the killed ones' children become the worker's as they die
    try:
        os.killpg(pgid, signum)
        return True
    except ProcessLookupError:
        return sent
    except PermissionError:  # a recycled group id that is not ours: nothing of the run is left in it
        return sent


def become_subreaper() -> bool:
    """Make this process the one that orphaned descendants reparent to; False where the system cannot
    (not Linux): there, a descendant that leaves the process group escapes a stop."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def end_descendants(grace_s: float) -> list[int]:
    """SIGTERM every living descendant of this process, SIGKILL what is left after ``grace_s`` (and
    what it forked meanwhile); reap them (orphans are our children) and return the pids ended."""
    me = os.getpid()
    ended = descendants(me)
    _kill_each(ended, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while descendants(me) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    for _ in range(200):  # bounded: a process stuck in the kernel (state D) dies when it can
        left = descendants(me)
        if not left:
            break
        ended += [pid for pid in left if pid not in ended]
        _kill_each(left, signal.SIGKILL)
        _reap()
        time.sleep(0.01)
    _reap()
    return ended


def descendants(pid: int) -> list[int]:
    """The living processes whose chain of parents leads to ``pid`` (zombies left out), from
    ``/proc``; none where there is no ``/proc``."""
    children: dict[int, list[int]] = {}
    living = set()
    for child, parent, _, state in _processes():
        children.setdefault(parent, []).append(child)
        if state != "Z":
            living.add(child)
    found, pending = [], list(children.get(pid, ()))
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(children.get(child, ()))
    return [child for child in found if child in living]


def alive(pid: int) -> bool:
    """Running: a worker that exited but was not reaped yet (our own child) is a zombie, not alive."""
    return process_alive(pid) and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _escaped(pgid: int) -> list[int]:
    """Descendants of the worker ``pgid`` outside its group; none unless ``pgid`` still is a worker
    (a recycled pid's family is not ours to signal)."""
    try:
        if b"rlops.orchestrator.worker" not in Path(f"/proc/{pgid}/cmdline").read_bytes():
            return []
    except OSError:
        return []
    groups = {child: group for child, _, group, _ in _processes()}
    return [child for child in descendants(pgid) if groups.get(child) != pgid]


def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, parent pid, process group, state) of every process in ``/proc``."""
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        found.append((int(name), int(fields[1]), int(fields[2]), fields[0]))
    return found


def _kill_each(pids: list[int], signum: int) -> bool:
    sent = False
    for pid in pids:
        try:
            os.kill(pid, signum)
            sent = True
        except (ProcessLookupError, PermissionError):
            continue
    return sent


def _reap() -> None:
    """Collect exited children (orphans that became ours) so that none stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_children: list[subprocess.Popen] = []


def _reap_later(process: subprocess.Popen) -> None:
    _children.append(process)
    reap_children()


def reap_children() -> None:
    """Workers started by this process are its children: collect the exited ones so none stays a zombie."""
    _children[:] = [child for child in _children if child.poll() is None]
