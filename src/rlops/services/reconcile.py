"""Runs whose process died: marked lost in the run store, and FAILED in the backends that keep a status.

A killed process writes no ``end`` record, so its MLflow run would stay RUNNING forever. Whoever
next reads the run store (``rlops runs list``, a registry prune) reconciles: the store marks the
run lost, and the MLflow run the run's saved options name is set FAILED with the reason as a tag.
A backend that cannot be reached is a warning here, never an error: the store's answer stands
and the next reconcile does not try again (the run is no longer 'running' in the store).
"""

from __future__ import annotations

import logging
from pathlib import Path

from rlops.errors import RlopsError
from rlops.pipeline.fatal_log import crash_reason
from rlops.store.run_dir import RunDirectory
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)


def reconcile_lost_runs(store: RunStore) -> list[str]:
    """Mark the runs of this host whose process is gone lost (failed, with the reason, when a
    native crash left its fatal.log); return their ids."""
    lost = store.mark_lost_runs()
    for run_id in lost:
        run = store.get_run(run_id)
        if run["run_dir"]:
            crash = crash_reason(Path(run["run_dir"]))
            if crash is not None:
                store.settle(run_id, "failed", crash)
            _fail_in_backends(run_id, Path(run["run_dir"]), crash or run["reason"] or "lost")
    return lost


def _fail_in_backends(run_id: str, run_dir: Path, reason: str) -> None:
    try:
        saved = RunDirectory(run_dir).read_options()
    except RlopsError:
        return  # no options.json (a run that never started properly): no backend to tell
    store_options = saved.get("store", {})
    backends = [name.strip() for name in str(store_options.get("backend", "")).split(",")]
    if "mlflow" not in backends:
        return
    try:
        from rlops.sinks.mlflow import fail_lost_run  # mlflow is an optional extra, slow to import

        if fail_lost_run(store_options, run_dir, run_id, f"lost: {reason}"):
            log.info("run %s: its MLflow run is marked FAILED", run_id)
    except Exception as exc:  # a backend's trouble never hides the store's answer
        log.warning("run %s is lost, but its MLflow run could not be marked FAILED: %s", run_id, exc)
