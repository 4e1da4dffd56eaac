"""A program's own `end` record does not end its run: the run follows its processes, what the
program prints after its `end` is bad lines, and the worker writes the run's one `end`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rlops.events.validate import validate_log
from tests.orchestrator.test_supervisor import PROGRAMS, records, service, settle
from tests.orchestrator.waits import wait_for_json

ENDS_EARLY = str(PROGRAMS / "ends_early.py")


def test_a_program_that_goes_on_after_its_end_record_is_running_and_stoppable():
    svc = service("--orchestrator.max-concurrent", "1", "--orchestrator.stop-grace-s", "5")
    run_id = svc.start("command", [sys.executable, ENDS_EARLY, "forever"], name="early")
    waiting = svc.start("command", [sys.executable, "-c", "pass"], name="waiting")
    wait_for_json(Path("rlruns/early/ended.json"))  # five records printed after its end
    for _ in range(3):
        svc.tick()  # what it printed is ingested: its end record ends nothing
    run = svc.store.get_run(run_id)
    assert run["status"] == "running" and run["exit_code"] is None
    assert svc.store.get_run(waiting)["status"] == "queued"  # it still holds the one slot
    assert svc.stop(run_id) == "stopping"
    run = settle(svc, run_id)
    assert run["status"] == "stopped"
    # The run's end record (ingested) says stopped before the worker's exit.json, which brings the
    # bad lines, is settled: wait for the exit code (a loaded machine widens that window).
    deadline = time.monotonic() + 60
    while run["exit_code"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
        svc.tick()
        run = svc.store.get_run(run_id)
    log = Path(run["log_path"])
    assert validate_log(log).ok, validate_log(log).anomalies
    logged = records(run)
    assert [r.type for r in logged] == ["meta", "metrics", "end"] and logged[-1].status == "stopped"
    assert logged[-1].env_steps == 1  # what the program's end said is carried
    assert run["bad_lines"] >= 5 and run["env_steps"] == 1
    output = (Path(run["run_dir"]) / "output.log").read_text()
    assert '{"type": "metrics", "env_steps": 6, "loss": 0.16666666666666666}\n' in output  # kept as text
    assert "after the program's end record" in output
    assert settle(svc, waiting)["status"] == "finished"  # the slot came free when the run's processes ended
    svc.close()


def test_the_programs_end_status_is_carried_into_the_runs_end():
    svc = service()
    failed = settle(svc, svc.start("command", [sys.executable, ENDS_EARLY, "failed"], name="failed"))
    assert (failed["status"], failed["reason"], failed["exit_code"]) == ("failed", "diverged", 0)
    assert failed["env_steps"] == 7 and failed["bad_lines"] == 1
    crashed = settle(svc, svc.start("command", [sys.executable, ENDS_EARLY, "crash"], name="crash"))
    assert (crashed["status"], crashed["reason"]) == ("failed", "exit code 3 after its end record said finished")
    for run in (failed, crashed):
        assert validate_log(Path(run["log_path"])).ok
        assert [r.type for r in records(run)] == ["meta", "metrics", "end"]
    svc.close()
