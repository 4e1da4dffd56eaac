"""The server's health: ``GET /api/health``, its version, its runs by status, and whether it starts
runs (it does when it was given the orchestrator's options)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI

from rlops import __version__
from rlops.options.schema import Options
from rlops.store.runs import RunStore


def add_health_routes(app: FastAPI, options: Options | None, store: Callable[[], Iterator[RunStore]]) -> None:
    @app.get("/api/health")
    def health(db: RunStore = Depends(store)) -> dict[str, Any]:
        return {"ok": True, "version": __version__, "runs": db.status_counts(), "can_start": options is not None,
                "max_concurrent": options.orchestrator.max_concurrent if options else None}
