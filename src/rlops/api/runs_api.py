"""The runs: what the dashboard lists and draws.

    GET  /api/runs?status=&runner=&env_id=&algorithm=&q=&limit=   newest first
    GET  /api/runs/{run_id}
    GET  /api/runs/{run_id}/metrics                    the run's metric keys
    GET  /api/runs/{run_id}/metrics/{key}?max_points=  a series, downsampled with its peaks kept
    GET  /api/runs/{run_id}/episodes?limit=
    GET  /api/runs/{run_id}/artifacts                  the artifact manifest

The rest of a run's routes are one module each: its files (``run_files_api``), its record stream
(``run_stream_api``), starting and stopping it (``run_control_api``), its TensorBoard
(``tensorboard_api``), its log text (``logs_api``). Each request opens the run store for itself
(SQLite connections are per thread; WAL readers never block the writers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse

from rlops.api.downsample import envelope
from rlops.api.errors import error
from rlops.store.recent_returns import with_recent_returns
from rlops.store.runs import RunStore

MAX_POINTS = 2_000  # a chart's default budget: a few pixels per point on a wide screen
# Where a run executes is part of it: its backend (local | ray), the node Ray placed it on (its IP and
# node id) and the host that registered it (a local run's machine).
SUMMARY = ("run_id", "status", "reason", "runner", "env_id", "algorithm", "created", "started", "ended", "updated",
           "env_steps", "episodes", "last_return", "recent_return", "recent_episodes", "best_eval", "sps", "exit_code",
           "backend", "node", "host", "backend_ref")


def add_runs_routes(app: FastAPI, store: Callable[[], Iterator[RunStore]]) -> None:
    @app.get("/api/runs")
    def runs(status: str | None = None, runner: str | None = None, env_id: str | None = None,
             algorithm: str | None = None, q: str | None = Query(None, description="a part of the run's name"),
             limit: int = Query(200, ge=1, le=100_000), db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        rows = db.list_runs(status=status)
        rows = [row for row in rows if (runner is None or row["runner"] == runner)
                and (env_id is None or row["env_id"] == env_id) and (algorithm is None or row["algorithm"] == algorithm)
                and (q is None or q.lower() in row["run_id"].lower())]
        return [summary(row) for row in with_recent_returns(db.connection, rows[:limit])]

    @app.get("/api/runs/{run_id}")
    def run(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        return with_recent_returns(db.connection, [db.get_run(run_id)])[0]

    @app.get("/api/runs/{run_id}/metrics")
    def metric_keys(run_id: str, db: RunStore = Depends(store)) -> list[str]:
        db.get_run(run_id)
        return db.metric_keys(run_id)

    @app.get("/api/runs/{run_id}/metrics/{key:path}")
    def series(run_id: str, key: str, max_points: int = Query(MAX_POINTS, ge=4, le=100_000),
               db: RunStore = Depends(store)) -> Any:
        db.get_run(run_id)
        data = db.metric_series(run_id, key)
        if not len(data) and key not in db.metric_keys(run_id):
            return error(404, f"run {run_id} has no metric {key!r}", f"GET /api/runs/{run_id}/metrics lists them")
        steps, values = envelope(data.steps, data.values, max_points)
        # Straight to JSON: FastAPI's encoder would walk each of the thousands of floats again.
        return JSONResponse({"key": key, "points": len(data), "returned": len(steps), "steps": steps.tolist(),
                             "values": values.tolist()})  # finite: the schema refuses NaN

    @app.get("/api/runs/{run_id}/episodes")
    def episodes(run_id: str, limit: int = Query(1_000, ge=1, le=100_000),
                 db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        db.get_run(run_id)
        return db.episodes(run_id, limit=limit)

    @app.get("/api/runs/{run_id}/artifacts")
    def artifacts(run_id: str, db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        return db.get_run(run_id)["artifacts"]


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """A run as the runs table shows it (the list, the live runs stream, a started run)."""
    return {key: row.get(key) for key in SUMMARY}
