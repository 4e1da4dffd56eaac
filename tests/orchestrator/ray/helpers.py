"""Shared by the Ray tests: a trainer service on the test cluster, waiting for runs to settle."""

from __future__ import annotations

import time
from pathlib import Path

from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService

PROGRAMS = Path(__file__).parent / "programs"
SETTLED = ("finished", "failed", "stopped", "lost")


def ray_args(cluster, root: Path, *extra: str) -> list[str]:
    return ["--orchestrator.backend", "ray", "--ray.address", cluster.address, "--store.model-dir", str(root / "runs"),
            "--registry.db-path", str(root / "rlops.db"), "--orchestrator.poll-interval", "0.1",
            "--orchestrator.max-concurrent", "8", "--ray.num-cpus", "0.5", *extra]


def ray_service(cluster, root: Path, *extra: str) -> TrainerService:
    return TrainerService(resolve_options(environ={}, args=ray_args(cluster, root, *extra)).options)


def settle(svc: TrainerService, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc.tick()
        run = svc.store.get_run(run_id)
        if run["status"] in SETTLED and svc.ray_runs.state(run_id).get("settled"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not settle: {svc.store.get_run(run_id)}")


def wait_for(predicate, timeout: float = 60, svc: TrainerService | None = None, what: str = "it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if svc is not None:
            svc.tick()
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")
