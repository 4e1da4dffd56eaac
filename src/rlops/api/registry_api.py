"""The registry over HTTP, for the checkpoint browser: models with their scores, validation and
integrity; validate one again; promote one (issue 7 groundwork).

    GET  /api/models?env_id=&algorithm=&status=&validated=&verify=
    POST /api/models/{id}/validate          the registry rules of the server's options, applied now
    POST /api/models/{id}/promote  {"to": "production" | "staging" | "archived" | "none"}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from rlops.options.schema import Options
from rlops.pipeline.registry_ops import rules_from, validate, verify
from rlops.store.registry import Registry


class PromoteRequest(BaseModel):
    to: str


def add_registry_routes(app: FastAPI, db_path: str | Path, options: Options | None) -> None:
    def registry() -> Iterator[Registry]:
        opened = Registry(db_path)
        try:
            yield opened
        finally:
            opened.close()

    @app.get("/api/models")
    def models(env_id: str | None = None, algorithm: str | None = None, status: str | None = None,
               validated: bool | None = None, verify_files: bool = False,
               db: Registry = Depends(registry)) -> list[dict[str, Any]]:
        rows = db.list(validated=validated, env_id=env_id, algorithm=algorithm, status=status)
        if verify_files:  # rehash every file: the browser's integrity badge
            checks = {check.model_id: check for check in verify(db, [row["id"] for row in rows])}
            rows = [{**row, "integrity": asdict(checks[row["id"]])} for row in rows]
        return rows

    @app.post("/api/models/{model_id}/validate")
    def revalidate(model_id: int, db: Registry = Depends(registry)) -> dict[str, Any]:
        rules = rules_from((options or Options()).registry)
        return asdict(validate(db, model_id, rules))

    @app.post("/api/models/{model_id}/promote")
    def promote(model_id: int, body: PromoteRequest, db: Registry = Depends(registry)) -> dict[str, Any]:
        archived = db.promote(model_id, body.to)
        return {"model": db.get(model_id), "archived": archived}
