"""The daemon's round follows its Ray runs until its next round begins (``TrainerService.tick(until)``):
the replies are taken as they come in, so a record is home about as soon as its node has it, not a
round or two later, and nothing is taken twice."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rlops.events.reader import read_records
from tests.orchestrator.ray.helpers import ray_service, settle, wait_for

STEADY = Path(__file__).parents[1] / "programs" / "steady.py"


def newest_home(svc, run_id: str) -> float:
    """The time stamp of the newest record in the store (the program stamped it when it printed it)."""
    seq = svc.store.get_run(run_id)["ingested_seq"]
    return next(r.t for _, r in read_records(Path(svc.store.get_run(run_id)["log_path"])) if r.seq == seq)


def test_a_round_takes_its_ray_runs_records_as_they_come_until_the_next_round(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path)
    run_id = svc.start("command", [sys.executable, str(STEADY), "200", "6"], name="followed")
    wait_for(lambda: svc.store.get_run(run_id)["ingested_seq"] >= 20, svc=svc, what="the first records home")
    for _ in range(3):
        started = time.monotonic()
        svc.tick(until=started + 1.5)
        took = time.monotonic() - started
        assert 1.4 <= took < 2.0, took  # the round lasted until its next one was due, not longer
        # What the run printed during the round came home during it (left for the next round, the
        # newest record home would be as old as the round).
        assert time.time() - newest_home(svc, run_id) < 0.6
    run = settle(svc, run_id)
    assert run["status"] == "finished", run
    records = [r for _, r in read_records(Path(run["log_path"]))]
    assert [r.seq for r in records] == list(range(len(records)))  # each once, gap-free
    episodes = sum(r.type == "episode" for r in records)
    assert run["ingested_seq"] == records[-1].seq and run["episodes"] == episodes and episodes >= 1100
    svc.close()
