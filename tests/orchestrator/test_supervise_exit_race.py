"""A local run whose worker writes its exit status and exits between the supervisor's look at the
status and its look at the worker has ended as that status says: it is settled from it, never
``lost`` (not even for a moment) nor "killed" after a stop. Only a worker gone with no status at
all is lost."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import rlops.orchestrator.service as service_module
from rlops.orchestrator.process import alive
from tests.orchestrator.test_supervisor import service, settle
from tests.orchestrator.waits import wait_for_json

# Exits 0 once the test says so (a file "go" in its run directory): the test picks the moment.
WAIT_FOR_GO = """
import os, pathlib, time
run_dir = pathlib.Path(os.environ["RLOPS_RUN_DIR"])
(run_dir / "waiting.json").write_text("{}")
while not (run_dir / "go").exists():
    time.sleep(0.01)
"""


def _the_worker_leaves_after_the_first_status_look(monkeypatch, run_dir: Path) -> list[object]:
    """From now on, the supervisor's first look at the run's exit status finds it truly absent (the
    program still waits), and the worker then writes it and exits before the supervisor looks at
    the worker: the interleaving the supervisor must read right. Returns the looks' results."""
    pid = wait_for_json(run_dir / "worker.json")["pid"]
    real_read_exit = service_module.read_exit
    looks: list[object] = []

    def status_then_the_worker_leaves(path: Path):  # noqa: ANN202 - read_exit's
        status = real_read_exit(path)
        if not looks:
            (run_dir / "go").touch()
            deadline = time.monotonic() + 30
            while alive(pid):
                assert time.monotonic() < deadline, "the worker never exited"
                time.sleep(0.01)
        looks.append(status)
        return status

    monkeypatch.setattr(service_module, "read_exit", status_then_the_worker_leaves)
    return looks


def _settles(svc, monkeypatch) -> list[tuple]:  # noqa: ANN001 - a TrainerService
    """Every (status, reason, exit code) the service writes to the run's row, in order."""
    written: list[tuple] = []
    settle_row = svc.store.settle

    def recorded(run_id: str, status: str, reason: str | None = None, exit_code: int | None = None) -> None:
        written.append((status, reason, exit_code))
        settle_row(run_id, status, reason, exit_code)

    monkeypatch.setattr(svc.store, "settle", recorded)
    return written


def test_a_worker_that_exits_just_after_the_status_look_is_settled_from_its_status(monkeypatch, caplog):
    svc = service()
    run_id = svc.start("command", [sys.executable, "-c", WAIT_FOR_GO], name="race")
    run_dir = Path(svc.store.get_run(run_id)["run_dir"])
    wait_for_json(run_dir / "waiting.json")  # the program runs and waits: no exit status yet
    looks = _the_worker_leaves_after_the_first_status_look(monkeypatch, run_dir)
    written = _settles(svc, monkeypatch)
    svc.tick()  # one round: the status absent, then the worker seen gone
    run = svc.store.get_run(run_id)
    assert looks[0] is None and (run_dir / "exit.json").exists()
    assert run["status"] == "finished" and run["exit_code"] == 0 and run["reason"] is None, run
    # Never lost, not even for a moment: a reader (rlops runs list, the dashboard) would have seen it.
    assert written == [("finished", None, 0)]
    assert not [r for r in caplog.records if "is lost" in r.getMessage()]
    svc.close()


def test_a_stopped_worker_that_exits_just_after_the_status_look_was_not_killed(monkeypatch):
    svc = service()
    run_id = svc.start("command", [sys.executable, "-c", "import signal; signal.signal(signal.SIGTERM, "
                                   "signal.SIG_IGN)\n" + WAIT_FOR_GO], name="stopping")
    run_dir = Path(svc.store.get_run(run_id)["run_dir"])
    wait_for_json(run_dir / "waiting.json")
    assert svc.stop(run_id) == "stopping"  # the program takes its time; it ends, on its own, in the race
    _the_worker_leaves_after_the_first_status_look(monkeypatch, run_dir)
    svc.tick()
    run = svc.store.get_run(run_id)
    assert run["status"] == "stopped" and run["exit_code"] == 0, run
    assert run["reason"] is None, run  # its end record's (a stop, asked); not "killed after the stop grace period"
    svc.close()


def test_a_worker_killed_before_it_wrote_its_status_is_still_lost():
    svc = service()
    run_id = svc.start("command", [sys.executable, "-c", WAIT_FOR_GO], name="killed")
    run_dir = Path(svc.store.get_run(run_id)["run_dir"])
    wait_for_json(run_dir / "waiting.json")
    os.killpg(wait_for_json(run_dir / "worker.json")["pid"], signal.SIGKILL)  # worker and program at once
    run = settle(svc, run_id, timeout=30)
    assert not (run_dir / "exit.json").exists()
    assert run["status"] == "lost" and run["exit_code"] is None, run
    assert run["reason"] == "its processes are gone without an exit status (killed while nobody watched?)"
    svc.close()
