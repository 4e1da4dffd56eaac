"""Offline runs as the daemon runs them: a ``TrainerService`` whose interpreter is d3rlpy's, and a
run ticked until it settles (its status terminal and its exit code in)."""

from __future__ import annotations

import time
from pathlib import Path

from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from tests.datasets.offline_python import d3rlpy_python

SETTLED = ("finished", "failed", "stopped", "lost")


def offline_service(*args: str) -> TrainerService:
    """A service that starts offline runs in d3rlpy's interpreter, polling every 0.1 s; ``args`` are
    more options (the store's paths)."""
    return TrainerService(resolve_options(environ={}, args=["--orchestrator.poll-interval", "0.1",
                                                            "--orchestrator.python", d3rlpy_python(),
                                                            *args]).options)


def settle(svc: TrainerService, run_id: str, timeout: float = 420) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc.tick()
        run = svc.store.get_run(run_id)
        if run["status"] in SETTLED and run["exit_code"] is not None:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not settle: {svc.store.get_run(run_id)}")


def output_of(run: dict) -> str:
    """The end of a run's output.log: what the adapter said before it failed."""
    return (Path(run["run_dir"]) / "output.log").read_text(errors="replace")[-3000:]
