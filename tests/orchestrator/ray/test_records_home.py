"""A run on a worker node whose files the daemon never reads: its records come home over Ray."""

from __future__ import annotations

import sys
from pathlib import Path

from rlops.events.reader import read_records
from tests.orchestrator.ray.helpers import PROGRAMS, ray_service, settle


def test_every_record_of_a_run_on_a_node_is_in_the_store_once(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path)
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "3000", "500"], name="far")
    run = settle(svc, run_id)
    assert run["status"] == "finished" and run["exit_code"] == 0, run
    assert run["backend"] == "ray" and run["node"].startswith("127.0.0.1 ("), run
    assert run["pid"] is None  # not a process of this machine's: rlops runs list never marks it lost by pid
    home = Path(run["log_path"])
    assert home.parent == tmp_path / "runs" / run_id  # the daemon's copy, not the node's
    records = [record for _, record in read_records(home)]
    assert [r.seq for r in records] == list(range(len(records)))  # each record once, gap-free
    assert run["ingested_seq"] == records[-1].seq and run["episodes"] == 3000
    assert svc.store.events(run_id, types=["eval"])[-1]["env_steps"] == 3000
    node_side = Path(svc.ray_runs.state(run_id)["node_run_dir"])
    assert node_side.is_relative_to(cluster.root / "nodes") and (node_side / "train_log.jsonl").read_bytes() == \
        home.read_bytes()  # byte for byte: the node's log came home whole
    assert "a line of text" in (home.parent / "output.log").read_text()
