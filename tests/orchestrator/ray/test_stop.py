"""Nothing of a Ray run outlives it on its node: a stop ends its whole process group, and so does
the death of its actor (Ray itself would end only the actor's own process)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from tests.orchestrator.ray.helpers import PROGRAMS, ray_service, settle, wait_for


def group_members(pgid: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(name))
    return members


def describe(pgid: int) -> list[str]:
    return [Path(f"/proc/{pid}/stat").read_text()[:80] for pid in group_members(pgid)]


def started_family(svc, name: str) -> tuple[str, int, int]:
    """A running family.py run: its id, its group on the node, and the child the program started."""
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "family.py")], name=name)
    wait_for(lambda: svc.store.get_run(run_id)["episodes"] >= 5, svc=svc, what=f"{run_id}'s first records")
    output = (Path(svc.store.get_run(run_id)["run_dir"]) / "output.log").read_text()
    child = int(re.search(r"family pid (\d+)", output).group(1))
    pgid = svc.ray_runs.state(run_id)["node_pid"]
    assert child in group_members(pgid) and len(group_members(pgid)) >= 3  # worker, program, its child
    return run_id, pgid, child


def test_stopping_a_ray_run_leaves_no_process_of_its_group_on_its_node(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path, "--orchestrator.stop-grace-s", "2")
    run_id, pgid, child = started_family(svc, "stopped")
    assert svc.stop(run_id) == "stopping"
    run = settle(svc, run_id)
    assert run["status"] == "stopped", run
    wait_for(lambda: not group_members(pgid), timeout=10, what="the group's end")
    assert not Path(f"/proc/{child}").exists() or child not in group_members(pgid)
    assert svc.store.events(run_id, types=["end"])[-1]["status"] == "stopped"


def test_a_killed_actor_takes_its_run_group_with_it(cluster, tmp_path):
    import ray

    svc = ray_service(cluster, tmp_path, "--ray.max-retries", "0", "--orchestrator.stop-grace-s", "2")
    run_id, pgid, _ = started_family(svc, "orphan")
    ray.kill(ray.get_actor(svc.ray_runs.state(run_id)["actor"], namespace="rlops"))
    wait_for(lambda: not group_members(pgid), timeout=20, what=f"the guard ending the group {pgid}: {describe(pgid)}")
    run = settle(svc, run_id)
    assert run["status"] == "lost" and "actor" in run["reason"], run
