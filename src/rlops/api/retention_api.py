"""Retention status for the dashboard: disk use per run, free disk, the rules in force and what
``rlops gc --apply`` would delete now (a dry run: nothing is deleted over HTTP).

    GET /api/retention
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from rlops.options.schema import Options
from rlops.orchestrator.retention import freed_bytes, plan, status
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
        return {**usage, "free_bytes": free_bytes(Path(settings.store.model_dir)),
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
