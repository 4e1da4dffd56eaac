"""TensorBoard for a run, on demand (see ``tensorboard_launcher``):

    GET|POST|DELETE /api/runs/{run_id}/tensorboard     its state; start it on a free port; stop it

The launcher's processes stop with the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from rlops.api.tensorboard_launcher import TensorBoards
from rlops.store.runs import RunStore


def add_tensorboard_routes(app: FastAPI, store: Callable[[], Iterator[RunStore]]) -> None:
    boards = TensorBoards()
    app.router.on_shutdown.append(boards.stop_all)

    @app.get("/api/runs/{run_id}/tensorboard")
    def tensorboard_status(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        db.get_run(run_id)
        url = boards.url(run_id)
        return {"run_id": run_id, "running": url is not None, "url": url}

    @app.post("/api/runs/{run_id}/tensorboard")
    def tensorboard(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        return boards.start(run_id, Path(db.get_run(run_id)["run_dir"]))

    @app.delete("/api/runs/{run_id}/tensorboard")
    def tensorboard_stop(run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "stopped": boards.stop(run_id)}
