"""A slow or frozen actor holds back only its own run: the daemon's rounds never wait on an actor,
the other runs' records keep coming home, and the frozen run's come home whole once it thaws.

The actor is frozen for real (SIGSTOP to its process on the test's node); a round's time spent
waiting is its wall time less the thread's CPU time and its wait for a CPU (``schedstat``), so
the check holds on a loaded machine: a round that waited on the frozen actor would wait whole
tenths of a second."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

from rlops.events.reader import read_records
from tests.orchestrator.ray.helpers import PROGRAMS, ray_service, settle, wait_for


def parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def waiting_s(step) -> float:
    """Seconds ``step()`` spent neither on a CPU nor waiting for one (this thread's schedstat)."""
    stat = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    before, started = [int(x) for x in stat.read_text().split()[:2]], time.monotonic()
    step()
    wall, after = time.monotonic() - started, [int(x) for x in stat.read_text().split()[:2]]
    return wall - (after[0] - before[0] + after[1] - before[1]) / 1e9


def test_a_frozen_actor_holds_back_only_its_own_run(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path)
    program = [sys.executable, str(PROGRAMS / "counter.py"), "3000", "10", "0.01"]
    frozen, other = (svc.start("command", program, name=name) for name in ("frozen", "other"))
    wait_for(lambda: all(svc.store.get_run(r)["episodes"] >= 50 and svc.ray_runs.state(r).get("node_pid")
                         for r in (frozen, other)), svc=svc, timeout=120, what="both runs' first records home")
    actor_pid = parent(svc.ray_runs.state(frozen)["node_pid"])  # the actor started the run's worker
    os.kill(actor_pid, signal.SIGSTOP)
    try:
        svc.tick()  # the frozen actor's outstanding read may have come in just before the stop
        held = svc.store.get_run(frozen)["ingested_seq"]
        seen = svc.store.get_run(other)["ingested_seq"]
        waits = []
        for _ in range(15):
            waits.append(waiting_s(svc.tick))
            time.sleep(0.05)
        assert statistics.median(waits) < 0.1, waits  # the rounds did not wait for the frozen actor
        assert svc.store.get_run(frozen)["ingested_seq"] == held  # nothing of it while frozen
        run = svc.store.get_run(other)
        assert run["ingested_seq"] > seen or run["exit_code"] is not None  # the other run came home meanwhile
    finally:
        os.kill(actor_pid, signal.SIGCONT)
    for run_id in (frozen, other):
        run = settle(svc, run_id)
        assert run["status"] == "finished" and run["episodes"] == 3000, run
        records = [record for _, record in read_records(Path(run["log_path"]))]
        assert [r.seq for r in records] == list(range(len(records)))  # each record once, gap-free
