"""A stop that lands in a PPO gradient update longer than the stop grace: the trainer acknowledges
it, shows progress, finishes the update and ends ``stopped`` with an end record and a checkpoint
at the rollout boundary; a program that shows progress forever is still killed, at the bound."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.events.validate import validate_log
from rlops.options import resolve_options
from rlops.orchestrator import service as service_module
from rlops.orchestrator.service import TrainerService
from rlops.pipeline.checkpoints import latest_checkpoint

PROGRAMS = Path(__file__).parent / "programs"
GRACE = 1.5  # progress is written every 0.2 s; at load 15 on 2 cores gaps of 0.5 s were seen
# One rollout of 128 steps, then an update of 4,000 optimizer steps (one minibatch an epoch): several
# seconds on any machine, several times the grace.
SLOW_UPDATE = ["--agent.algorithm", "ppo", "--env.env-id", "CartPole-v1", "--env.n-envs", "2",
               "--agent.hyperparams", '{"n_steps": 64, "n_epochs": 4000}', "--train.batch-size", "128",
               "--agent.net-arch", "[32]", "--train.total-timesteps", "1024", "--env.seed", "3",
               "--train.device", "cpu", "--eval.episodes", "1", "--metrics.every-steps", "128"]


def service(*args: str) -> TrainerService:
    return TrainerService(resolve_options(environ={}, args=["--orchestrator.poll-interval", "0.1",
                                                            "--orchestrator.stop-grace-s", str(GRACE), *args]).options)


def settle(svc: TrainerService, run_id: str, timeout: float = 300, exited: bool = True) -> dict:
    """The run once it has ended (and, with ``exited``, once its worker's exit status is in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc.tick()
        run = svc.store.get_run(run_id)
        if run["status"] not in ("queued", "running") and (run["exit_code"] is not None or not exited):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not settle: {svc.store.get_run(run_id)}")


def wait_for_record(log: Path, kind: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and any(record.type == kind for _, record in read_records(log)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no {kind} record in {log}")


@pytest.mark.slow
def test_a_stop_during_a_long_update_ends_stopped_with_a_checkpoint_at_the_rollout_boundary(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the trainer's update: steady, not at the mercy of thread contention
    svc = service()
    run_id = svc.start("rlops", SLOW_UPDATE, name="slow")
    run_dir = Path("rlruns/slow")
    # The first rollout's statistics are written at its last step, right before its update: the update is under way.
    wait_for_record(run_dir / "train_log.jsonl", "metrics")
    assert svc.stop(run_id) == "stopping"
    run = settle(svc, run_id)

    stop = json.loads((run_dir / "stop.json").read_text())
    progress = json.loads((run_dir / "stop_progress.json").read_text())
    assert "killed" not in stop, (stop, progress)  # the supervisor waited for the trainer
    assert progress["acknowledged"] - stop["asked"] < GRACE  # acknowledged at once
    assert progress["updated"] - stop["asked"] > GRACE and progress["progress"] > 100  # it outlasted the grace, working
    assert run["status"] == "stopped" and run["exit_code"] is not None
    assert (run_dir / "exit.json").is_file()
    records = [record for _, record in read_records(run_dir / "train_log.jsonl")]
    assert records[-1].type == "end" and records[-1].status == "stopped"
    assert latest_checkpoint(run_dir / "checkpoints").env_steps == 128  # the boundary after the finished update
    assert validate_log(run_dir / "train_log.jsonl").ok
    svc.close()


def test_a_program_that_shows_progress_forever_is_killed_at_the_upper_bound(monkeypatch):
    grace, limit = 1.0, 4.0  # the program writes every 50 ms; a grace of 20 such gaps holds under load
    monkeypatch.setattr(service_module, "STOP_PROGRESS_LIMIT_S", limit)  # 10 minutes in earnest
    svc = service("--orchestrator.stop-grace-s", str(grace))
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "busy_forever.py")], name="busy")
    wait_for_record(Path("rlruns/busy/train_log.jsonl"), "metrics", timeout=60)
    asked = time.time()
    svc.stop(run_id)
    run = settle(svc, run_id, timeout=60, exited=False)  # killed: no exit status
    stop = json.loads(Path("rlruns/busy/stop.json").read_text())
    assert run["status"] == "stopped" and run["reason"] == "killed after the stop grace period"
    assert stop["killed"] - asked >= limit  # it was given the bound, no more
    assert stop["killed"] - asked < limit + 5
    svc.close()
