"""The Ray guard waits on the actor's pidfd: it wakes when the actor goes and ends the run's group,
and leaves when the group is gone by itself (no Ray needed: the guard only sees pids)."""

from __future__ import annotations

import subprocess
import threading
import time

from rlops.orchestrator.ray_guard import GROUP_POLL_S, group_left, guard, started


def _sleeper(**kwargs) -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"], **kwargs)


def test_the_group_ends_soon_after_the_actor_dies() -> None:
    actor, group = _sleeper(), _sleeper(start_new_session=True)
    try:
        done = threading.Thread(target=guard, args=(actor.pid, group.pid, 1.0, started(actor.pid)), daemon=True)
        done.start()
        time.sleep(0.3)
        assert group_left(group.pid)  # the actor lives: the group is left alone
        killed = time.monotonic()
        actor.kill()
        actor.wait()  # reaped: a zombie would be seen gone too, by its pidfd
        assert group.wait(timeout=5) != 0
        assert time.monotonic() - killed < 1.0  # woken by the exit, not by a later look
        done.join(5)
        assert not done.is_alive()
    finally:
        for process in (actor, group):
            process.kill()
            process.wait()


def test_the_guard_leaves_with_the_group() -> None:
    actor, group = _sleeper(), _sleeper(start_new_session=True)
    try:
        done = threading.Thread(target=guard, args=(actor.pid, group.pid, 1.0, started(actor.pid)), daemon=True)
        done.start()
        group.kill()
        group.wait()
        done.join(GROUP_POLL_S + 2)
        assert not done.is_alive()
        assert actor.poll() is None  # the actor is not the guard's to end
    finally:
        for process in (actor, group):
            process.kill()
            process.wait()


def test_a_reused_pid_is_seen_gone() -> None:
    actor, group = _sleeper(), _sleeper(start_new_session=True)
    try:
        guard(actor.pid, group.pid, 0.5, "not its start time")  # the pid is someone else's now
        assert group.wait(timeout=5) != 0
        assert actor.poll() is None
    finally:
        for process in (actor, group):
            process.kill()
            process.wait()
