"""``python -m rlops.orchestrator.ray_guard ACTOR_PID RUN_PGID GRACE_S [ACTOR_START]``: no orphan on a Ray node.

When an actor's process dies (``ray.kill``, a crash, its raylet gone), Ray ends it and its direct
children only; the run's program and whatever it started are a process group of their own and
would run on, unwatched. The actor starts this guard, which forks at once and lets its first
process exit, so that the guard is nobody's direct child that Ray would kill. It watches the
actor (its pid and start time, so a reused pid is not mistaken for it); once the actor is gone,
the run's group gets SIGTERM, then SIGKILL after the grace period. It leaves with the group.
The actor passes its own start time (ACTOR_START) and does not wait for the guard to start: an
actor that dies before the guard first looks is still seen gone.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from rlops.orchestrator.process import signal_group

POLL_S = 0.2


def started(pid: int) -> str | None:
    """The process's start time (``/proc/PID/stat`` field 22), None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def group_left(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def guard(actor_pid: int, pgid: int, grace_s: float, actor_started: str | None) -> int:
    while group_left(pgid):
        if started(actor_pid) != actor_started:  # the actor is gone (or its pid is someone else's now)
            signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while group_left(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            signal_group(pgid, signal.SIGKILL)
            print(f"rlops guard: actor {actor_pid} gone, run group {pgid} ended", file=sys.stderr, flush=True)
            return 0
        time.sleep(POLL_S)
    return 0


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: python -m rlops.orchestrator.ray_guard ACTOR_PID RUN_PGID GRACE_S [ACTOR_START]")
    actor_pid, pgid, grace_s = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    actor_started = sys.argv[4] if len(sys.argv) == 5 else started(actor_pid)
    if os.fork() > 0:
        os._exit(0)  # the actor's child ends here; the guard goes on as init's (or a subreaper's)
    sys.exit(guard(actor_pid, pgid, grace_s, actor_started))


if __name__ == "__main__":
    main()
