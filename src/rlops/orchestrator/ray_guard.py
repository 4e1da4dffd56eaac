"""``python -m rlops.orchestrator.ray_guard ACTOR_PID WORKER_PID GRACE_S``: no orphan on a Ray node.

Ray kills only an actor's own process when the actor dies (``ray.kill``, a crash, its raylet
gone); the run's worker and program are a session of their own and would run on, unwatched. The
actor starts this guard, in yet another session so that whatever kills the actor's process group
does not kill it too. It watches its parent: once that is no longer the actor, the actor is gone,
and the run's group gets SIGTERM, then SIGKILL after the grace period. It leaves when the group has.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from rlops.orchestrator.process import alive, signal_group

POLL_S = 0.2


def guard(actor_pid: int, worker_pid: int, grace_s: float) -> int:
    while alive(worker_pid):
        if os.getppid() != actor_pid:  # reparented: the actor died
            signal_group(worker_pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while alive(worker_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            signal_group(worker_pid, signal.SIGKILL)
            print(f"rlops guard: actor {actor_pid} gone, run group {worker_pid} ended", file=sys.stderr)
            return 0
        time.sleep(POLL_S)
    return 0


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: python -m rlops.orchestrator.ray_guard ACTOR_PID WORKER_PID GRACE_S")
    sys.exit(guard(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))


if __name__ == "__main__":
    main()
