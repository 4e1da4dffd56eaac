"""``orchestrator.run_nice`` holds for a Ray run as for a local one: its session on its node (worker,
program, children) runs at that niceness, behind the node's actor that reads it."""

from __future__ import annotations

import sys

from tests.orchestrator.ray.helpers import ray_service, settle

NICENESS = "import json, os; print(json.dumps({'type': 'eval', 'episodes': 1, 'mean_reward': float(os.nice(0)), " \
           "'env_steps': 1}))"


def test_a_ray_runs_program_runs_at_the_run_niceness(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path, "--orchestrator.run-nice", "7")
    run = settle(svc, svc.start("command", [sys.executable, "-c", NICENESS], name="niced"))
    assert run["status"] == "finished", run
    assert [event["mean_reward"] for event in svc.store.events(run["run_id"], types=["eval"])] == [7.0]
    svc.close()
