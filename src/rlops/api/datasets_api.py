"""Datasets over HTTP, for the dashboard's datasets page and the start form's selector: each one
with its counts, returns, source, size and integrity; verify (rehash now) and delete.

    GET    /api/datasets                 every dataset, newest first, and their disk use in all
    GET    /api/datasets/{name}          one, with its manifest
    POST   /api/datasets/{name}/verify   rehash every file; integrity and problems as found
    DELETE /api/datasets/{name}          its directory and its row
    POST   /api/datasets/{name}/train    {"algo", "steps", "steps_per_epoch", "eval_episodes", "name"}: an
                                         ``offline`` run on it (pre-flight first: hashes, d3rlpy, env)

Listing reads the rows (the integrity of the last verification); the form verifies the dataset it
is about to start on, and Start stays disabled while its hashes do not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from rlops.api.errors import error
from rlops.api.per_request import per_request
from rlops.options.schema import Options


class TrainRequest(BaseModel):
    """What the page may choose of an offline run; the interpreter is the server's orchestrator.python."""

    algo: str | None = None
    steps: int = Field(2000, ge=1, le=10_000_000)
    steps_per_epoch: int = Field(500, ge=1, le=10_000_000)
    eval_episodes: int = Field(3, ge=1, le=1000)
    name: str | None = None


def add_datasets_routes(app: FastAPI, db_path: str | Path, options: Options | None) -> None:
    model_dir = (options or Options()).store.model_dir

    def open_catalog() -> Any:
        from rlops.datasets.catalog import DatasetCatalog  # h5py and numpy load with the first request

        return DatasetCatalog(model_dir, db_path)

    catalog = per_request(open_catalog)

    def missing(name: str) -> Any:
        return error(404, f"no dataset {name!r}", "GET /api/datasets lists them; rlops dataset record or import "
                                                  "makes one")

    @app.get("/api/datasets")
    def datasets(db: Any = Depends(catalog)) -> dict[str, Any]:
        rows = db.list()
        return {"datasets": rows, "bytes": sum(int(row["bytes"]) for row in rows)}

    @app.get("/api/datasets/{name}")
    def dataset(name: str, db: Any = Depends(catalog)) -> Any:
        return db.show(name) if db.store.get(name) else missing(name)

    @app.post("/api/datasets/{name}/verify")
    def verify(name: str, db: Any = Depends(catalog)) -> Any:
        return db.verify(name) if db.store.get(name) else missing(name)

    @app.delete("/api/datasets/{name}")
    def delete(name: str, db: Any = Depends(catalog)) -> Any:
        if not db.store.get(name):
            return missing(name)
        row = db.remove(name)
        return {"removed": row["name"], "path": row["path"]}

    @app.post("/api/datasets/{name}/train", status_code=201)
    def train(name: str, body: TrainRequest, db: Any = Depends(catalog)) -> Any:
        from rlops.api.runs_api import summary
        from rlops.orchestrator.service import TrainerService

        if options is None:
            raise HTTPException(405, "this server only reads runs")
        if not db.store.get(name):
            return missing(name)
        args = ["--dataset", name, "--steps", str(body.steps), "--steps-per-epoch", str(body.steps_per_epoch),
                "--eval-episodes", str(body.eval_episodes)] + (["--algo", body.algo] if body.algo else [])
        service = TrainerService(options)
        try:
            run_id = service.start("offline", args, name=body.name)
            return summary(service.store.get_run(run_id))
        finally:
            service.close()
