"""No process of a run survives it: descendants that left the run's process group (a child in its
own session, an orphaned daemon) end when the run is stopped, and when the program exits."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from rlops.orchestrator.launch import read_exit
from tests.orchestrator.test_supervisor import PROGRAMS, records, service, settle
from tests.orchestrator.waits import living, wait_for_json

ESCAPES = str(PROGRAMS / "escapes.py")


def _kill_leftovers(family: dict) -> None:
    """A failing test leaves no sleepers behind."""
    for pid in family.values():
        if living(pid):
            os.kill(pid, signal.SIGKILL)


def test_stopping_a_run_ends_the_descendants_that_called_setsid():
    svc = service("--orchestrator.stop-grace-s", "2")
    run_id = svc.start("command", [sys.executable, ESCAPES, "stay"], name="escapes")
    family = wait_for_json(Path("rlruns/escapes/family.json"))
    try:
        worker = wait_for_json(Path("rlruns/escapes/worker.json"))["pid"]
        assert os.getpgid(family["child"]) != worker and os.getpgid(family["daemon"]) != worker  # out of the group
        assert svc.stop(run_id) == "stopping"
        run = settle(svc, run_id)
        assert run["status"] == "stopped"
        svc.tick()  # reaps the worker (this test's child)
        assert [name for name, pid in family.items() if living(pid)] == []
    finally:
        _kill_leftovers(family)
    svc.close()


def test_a_program_that_exits_leaving_a_daemon_behind_ends_it_with_the_run():
    svc = service("--orchestrator.stop-grace-s", "2")
    run_id = svc.start("command", [sys.executable, ESCAPES, "exit"], name="leaves")
    family = wait_for_json(Path("rlruns/leaves/family.json"))
    try:
        run = settle(svc, run_id)
        assert run["status"] == "finished" and run["exit_code"] == 0
        assert [name for name, pid in family.items() if living(pid)] == []
        # the worker ended exactly the two that left the group (exit.json says which), not the program
        assert read_exit(Path(run["run_dir"])).left_behind == sorted([family["child"], family["daemon"]])
    finally:
        _kill_leftovers(family)
    svc.close()


def test_descendants_that_ignore_sigterm_are_killed_and_the_run_still_gets_its_end():
    svc = service("--orchestrator.stop-grace-s", "6")
    run_id = svc.start("command", [sys.executable, ESCAPES, "stubborn"], name="deaf")
    family = wait_for_json(Path("rlruns/deaf/family.json"))
    try:
        assert svc.stop(run_id) == "stopping"
        run = settle(svc, run_id)
        assert run["status"] == "stopped"
        assert [name for name, pid in family.items() if living(pid)] == []
        logged = records(run)  # the worker killed them within the grace, and wrote the run's end
        assert logged[-1].type == "end" and logged[-1].status == "stopped"
        assert read_exit(Path(run["run_dir"])).left_behind == sorted([family["child"], family["daemon"]])
    finally:
        _kill_leftovers(family)
    svc.close()
