"""A daemon killed between settling a Ray run and ending its actor leaves that (detached) actor idle
on its node for good; the next daemon to join the cluster ends it."""

from __future__ import annotations

import sys

import ray

from rlops.orchestrator.ray_backend import NAMESPACE, RayRuns
from tests.orchestrator.ray.helpers import PROGRAMS, ray_service, settle, wait_for


def actor_alive(name: str) -> bool:
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


def test_a_settled_runs_actor_left_by_a_dead_daemon_is_ended_by_the_next_one(cluster, tmp_path, monkeypatch):
    first = ray_service(cluster, tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(RayRuns, "_end", lambda self, run_id, state: None)  # the daemon dies right after the settle
        run = settle(first, first.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "5"], name="left"))
    assert run["status"] == "finished", run
    name = first.ray_runs.state(run["run_id"])["actor"]
    assert actor_alive(name)  # settled, and its actor still there: what a killed daemon leaves
    first.close()
    again = ray_service(cluster, tmp_path)  # the daemon started again joins the cluster
    assert again.ray_runs is not None
    wait_for(lambda: not actor_alive(name), timeout=30, svc=again, what="the left-over actor ended")
    assert again.store.get_run(run["run_id"])["status"] == "finished"
    again.close()
