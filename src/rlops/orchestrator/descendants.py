"""A run's processes by ancestry, so that none outlives the run, not even one that left its process
group (``setsid``, a daemonizing grandchild).

The worker is a child subreaper (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a descendant whose
parent dies becomes the worker's child instead of init's, so every process of a run has a chain of
parents in ``/proc`` that leads to its worker. Where there is no ``prctl`` or no ``/proc`` (not
Linux), nothing here finds anything: a process that left the run's group escapes a stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


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
    signal_each(ended, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while descendants(me) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    for _ in range(200):  # bounded: a process stuck in the kernel (state D) dies when it can
        left = descendants(me)
        if not left:
            break
        ended += [pid for pid in left if pid not in ended]
        signal_each(left, signal.SIGKILL)
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


def outside_group(pgid: int) -> list[int]:
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


def signal_each(pids: list[int], signum: int) -> bool:
    """True if any of ``pids`` got the signal (the others are gone, or not ours)."""
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
