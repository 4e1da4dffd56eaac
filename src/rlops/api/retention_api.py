"""Retention status for the dashboard: disk use per run and per dataset, free disk, the rules in
force and what ``rlops gc --apply`` would delete now (a dry run: nothing is deleted over HTTP).
Datasets are never pruned by the rules (``rlops dataset rm`` deletes one), but their bytes count.

    GET /api/retention
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from rlops.datasets.layout import datasets_root
from rlops.options.schema import Options
from rlops.orchestrator.retention import disk_usage, freed_bytes, plan, status
from rlops.store.registry import Registry
from rlops.store.runs import RunStore


def add_retention_routes(app: FastAPI, db_path: str | Path, options: Options | None) -> None:
    @app.get("/api/retention")
    def retention() -> dict[str, Any]:
        settings = options or Options()
        store, registry = RunStore(db_path), Registry(db_path)
        try:
            usage = status(store, settings).to_dict()
            prunes = plan(store, registry, settings)
        finally:
            registry.close()
            store.close()
        limits = settings.orchestrator
        datasets = dataset_usage(settings.store.model_dir, db_path)
        return {**usage, "datasets": datasets, "datasets_bytes": sum(row["bytes"] for row in datasets),
                "free_bytes": free_bytes(Path(settings.store.model_dir)),
                "root": str(Path(settings.store.model_dir).resolve()),
                "rules": {"max_videos_per_run": limits.max_videos_per_run,
                          "max_runs_per_agent": limits.max_runs_per_agent, "max_age_days": limits.max_age_days,
                          "keep_top_n": settings.registry.keep_top_n,
                          "registry_max_age_days": settings.registry.max_age_days},
                "plan": [prune.to_dict() for prune in prunes], "plan_bytes": freed_bytes(prunes)}


def free_bytes(root: Path) -> int:
    existing = root.resolve()
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


def dataset_usage(model_dir: str | Path, db_path: str | Path) -> list[dict[str, Any]]:
    """Each dataset's bytes on disk now (not the manifest's sum: a half-deleted one shows as it is)."""
    if not datasets_root(model_dir).is_dir():
        return []
    from rlops.datasets.catalog import DatasetCatalog  # h5py and numpy load only when there are datasets

    catalog = DatasetCatalog(model_dir, db_path)
    try:
        rows = catalog.list()
    finally:
        catalog.close()
    return [{"name": row["name"], "env_id": row["env_id"], "path": row["path"],
             "bytes": disk_usage(Path(row["path"])), "integrity": row.get("integrity")} for row in rows]
