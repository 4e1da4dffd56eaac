"""Many sub-second runs queued at once on the Ray cluster: every one ends ``finished`` with each of
its records in the store once. A run this short exits while its actor is looking at it, so the
exit and the look at its exit status race; the 200-tiny-run benchmark once settled such a run
``lost`` ("gone without an exit status") with all its records home.

The race is a matter of timing (the worker writes its status and exits between the actor's look
at the status and its look at the process), so the test raises the odds: many runs at once, each
actor on a sliver of a CPU, so the nodes' two CPUs are shared by many actors and workers and an
actor is often descheduled in the middle of a look. The actor-level tests below force that
interleaving instead of waiting for it: a real ``RunActor`` (in this process, no cluster) whose
look at the status is held until its worker is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.orchestrator import ray_actor
from rlops.orchestrator.ray_actor import RunActor
from rlops.orchestrator.ray_guard import started
from rlops.store.run_dir import EVENTS_FILE
from tests.orchestrator.ray.helpers import PROGRAMS, SETTLED, ray_service

RUNS = 40
RECORDS = 10


@pytest.mark.slow
def test_many_sub_second_runs_at_once_all_finish_with_every_record_once(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path, "--orchestrator.max-concurrent", "16", "--ray.num-cpus", "0.05")
    ids = [svc.start("command", [sys.executable, str(PROGRAMS / "counter.py"), str(RECORDS)], name=f"short-{n:02d}")
           for n in range(RUNS)]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        svc.tick()
        runs = [svc.store.get_run(run_id) for run_id in ids]
        if all(run["status"] in SETTLED and svc.ray_runs.state(run["run_id"]).get("settled") for run in runs):
            break  # settled by the exit status, not only ended by the end record
        time.sleep(0.05)
    not_finished = {run["run_id"]: (run["status"], run["reason"]) for run in runs if run["status"] != "finished"}
    assert not not_finished, not_finished
    for run in runs:
        assert run["exit_code"] == 0 and run["episodes"] == RECORDS, run
        records = [record for _, record in read_records(Path(run["log_path"]))]
        assert [r.seq for r in records] == list(range(len(records))), run["run_id"]  # each once, gap-free
        assert svc.store.recent_returns(run["run_id"], 1000) == [float(n) for n in range(RECORDS)]  # each once
        kept = [event["seq"] for event in svc.store.events(run["run_id"])]  # the other records: meta, end
        assert kept == sorted(set(kept)) and set(kept) <= {r.seq for r in records}
        assert run["ingested_seq"] == records[-1].seq
    svc.close()


def actor_of(tmp_path, monkeypatch, *program: str) -> RunActor:
    monkeypatch.delenv("RLOPS_RAY_NODE_DIR", raising=False)
    return RunActor({"run_id": "short", "runner": "command", "args": [sys.executable, *program], "trace_id": "0" * 32,
                     "env": {}, "node_dir": str(tmp_path / "node"), "prior_log": b"", "files": {},
                     "stop_grace_s": 2.0})


def gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while started(pid) is not None:  # a zombie counts as gone: its exit is over
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        time.sleep(0.005)


def read_until_over(actor: RunActor) -> dict:
    offsets, data, deadline = {EVENTS_FILE: 0}, b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = actor.read(offsets, wait_s=0.2)
        data += reply["data"][EVENTS_FILE]
        offsets[EVENTS_FILE] += len(reply["data"][EVENTS_FILE])
        if reply["exit"] is not None or not reply["alive"]:
            return {**reply, "log": data}
    raise AssertionError("the actor never said the run was over")


def test_a_worker_that_exits_between_the_actors_looks_is_never_seen_gone_without_its_status(tmp_path, monkeypatch):
    actor = actor_of(tmp_path, monkeypatch, str(PROGRAMS / "counter.py"), str(RECORDS))
    real = ray_actor.read_exit

    def read_exit_then_wait(run_dir):
        status = real(run_dir)
        if status is None:
            gone(actor.pid)  # the worker writes its status and exits right after this look
        return status

    monkeypatch.setattr(ray_actor, "read_exit", read_exit_then_wait)
    reply = read_until_over(actor)
    assert reply["exit"] is not None, reply  # was: alive False, exit None -> the run settled lost
    assert reply["exit"]["exit_code"] == 0 and reply["exit"]["records"] == RECORDS + 1
    assert reply["log"].count(b"\n") == reply["exit"]["records"] + 1  # the end record the worker adds


def test_a_worker_killed_before_it_wrote_the_status_is_gone_with_its_own_exit_code(tmp_path, monkeypatch):
    actor = actor_of(tmp_path, monkeypatch, str(PROGRAMS / "counter.py"), "1000", "1", "0.2")
    deadline = time.monotonic() + 30
    while not actor.read({EVENTS_FILE: 0}, wait_s=0.2)["data"][EVENTS_FILE]:
        assert time.monotonic() < deadline, "no record came"
    os.killpg(actor.pid, signal.SIGKILL)
    reply = read_until_over(actor)
    assert reply["exit"] is None and not reply["alive"] and reply["worker_exit"] == -signal.SIGKILL, reply
