"""A node that dies mid-run: the run starts again on another node, its log continued after a
``resume`` record, nothing twice in the store; with no retries left it is lost, with the reason."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from tests.orchestrator.ray.helpers import PROGRAMS, ray_service, settle, wait_for

pytestmark = pytest.mark.slow


def kill_node_of(cluster, svc, run_id: str):
    state = wait_for(lambda: svc.ray_runs.state(run_id).get("node_run_dir") and svc.ray_runs.state(run_id),
                     svc=svc, what="the run's placement")
    node = cluster.node_running(state["node_run_dir"])
    node.kill()
    return node, state


def test_a_run_whose_node_dies_finishes_on_another_node_after_a_resume_record(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path, "--ray.max-retries", "1")
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "600", "20", "0.2"], name="moved")
    wait_for(lambda: svc.store.get_run(run_id)["episodes"] >= 60, svc=svc, what="records before the kill")
    dead, first = kill_node_of(cluster, svc, run_id)
    try:
        run = settle(svc, run_id, timeout=180)
        assert run["status"] == "finished", run
        second = svc.ray_runs.state(run_id)
        assert second["attempt"] == 1 and second["node_id"] != first["node_id"]
        assert not Path(second["node_run_dir"]).is_relative_to(dead.run_dir)
        records = [record for _, record in read_records(Path(run["log_path"]))]
        assert [r.seq for r in records] == list(range(len(records)))  # continued, nothing twice
        assert run["ingested_seq"] == records[-1].seq and run["resumes"] == 1
        resume = next(r for r in records if r.type == "resume")
        assert resume.checkpoint == "" and [r.type for r in records].count("end") == 1
        assert svc.store.events(run_id, types=["eval"])[-1]["env_steps"] == 600  # the retry ran to its end
    finally:
        cluster.add_worker()


def test_with_no_retries_left_a_run_whose_node_died_is_lost_with_the_reason(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path, "--ray.max-retries", "0")
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "family.py")], name="gone")
    wait_for(lambda: svc.store.get_run(run_id)["episodes"] >= 5, svc=svc, what="records before the kill")
    try:
        kill_node_of(cluster, svc, run_id)
        run = settle(svc, run_id, timeout=120)
        assert run["status"] == "lost" and run["reason"] == "node 127.0.0.1 died", run
        records = [record for _, record in read_records(Path(run["log_path"]))]
        assert [r.seq for r in records] == list(range(len(records)))
    finally:
        cluster.add_worker()
