"""The runs API (issue 7 groundwork, read-only so far): what the dashboard will draw, as JSON.

    GET /api/health
    GET /api/runs?status=&runner=&env_id=&limit=      newest first
    GET /api/runs/{run_id}
    GET /api/runs/{run_id}/metrics                    the run's metric keys
    GET /api/runs/{run_id}/metrics/{key}?max_points=  a series, downsampled with its peaks kept
    GET /api/runs/{run_id}/episodes?limit=
    GET /api/runs/{run_id}/artifacts                  the artifact manifest
    GET /api/runs/{run_id}/files/{path}               a file of the run (Range requests for video)
    GET /api/runs/{run_id}/stream?types=              server-sent events: the run's records as they are
                                                      written (id = seq; resumable with Last-Event-ID)
    POST /api/runs  {"runner": "rlops", "options": {"train.total_timesteps": 5000, ...}, "name": ...}
    POST /api/runs/{run_id}/stop
    POST|DELETE /api/runs/{run_id}/tensorboard        TensorBoard for the run on a free port / stop it
    GET /api/runners

Every error has one shape: ``{"error": {"status", "message", "hint"}}``. Each request opens the
run store for itself (SQLite connections are per thread; WAL readers never block the writers).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from rlops import __version__
from rlops.api.downsample import envelope
from rlops.api.registry_api import add_registry_routes
from rlops.api.tensorboard_launcher import TensorBoards
from rlops.errors import (
    PreflightError,
    RlopsError,
    RunDirectoryError,
    RunStateError,
    UnknownNameError,
    UsageError,
)
from rlops.events.schema import EventError, decode, encode
from rlops.options.schema import Options
from rlops.orchestrator.runners import RUNNERS
from rlops.orchestrator.service import TrainerService
from rlops.store.registry import ModelNotFoundError
from rlops.store.runs import RunStore

STREAM_POLL_S = 0.25  # how often a stream looks for new records
KEEPALIVE_S = 15.0
READ_BLOCK = 1 << 20
MAX_POINTS = 2_000  # a chart's default budget: a few pixels per point on a wide screen


def error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message, "hint": hint}}, status_code=status)


class StartRequest(BaseModel):
    runner: str = "rlops"
    options: dict[str, Any] = Field(default_factory=dict, description="dotted option: value, as in a TOML file")
    name: str | None = None


def create_runs_app(db_path: str | Path, options: Options | None = None) -> FastAPI:
    """The API over the run store at ``db_path``; with ``options`` (the orchestrator's), it also
    starts and stops runs."""
    app = FastAPI(title="rlops runs API", version=__version__, description=__doc__)

    def store() -> Iterator[RunStore]:
        opened = RunStore(db_path)
        try:
            yield opened
        finally:
            opened.close()

    @app.exception_handler(UnknownNameError)
    async def unknown(_: Request, exc: UnknownNameError) -> JSONResponse:
        return error(404, exc.message, exc.hint)

    @app.exception_handler(RlopsError)
    async def failed(_: Request, exc: RlopsError) -> JSONResponse:
        # A run that cannot start here, whose name is taken, or cannot be stopped now: 409;
        # bad input: 422; anything else: 500.
        if isinstance(exc, ModelNotFoundError):
            return error(404, exc.message, exc.hint)
        status = 409 if isinstance(exc, PreflightError | RunStateError | RunDirectoryError) else \
            422 if exc.exit_code == 2 else 500
        return error(status, exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg')}", "see /docs for the parameters")

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), "see /docs for the routes" if exc.status_code == 404 else None)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/api/runs")
    def runs(status: str | None = None, runner: str | None = None, env_id: str | None = None,
             limit: int = Query(200, ge=1, le=10_000), db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        rows = db.list_runs(status=status)
        rows = [row for row in rows if (runner is None or row["runner"] == runner)
                and (env_id is None or row["env_id"] == env_id)]
        return [_summary(row) for row in rows[:limit]]

    @app.get("/api/runs/{run_id}")
    def run(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        return db.get_run(run_id)

    @app.get("/api/runs/{run_id}/metrics")
    def metric_keys(run_id: str, db: RunStore = Depends(store)) -> list[str]:
        db.get_run(run_id)
        return db.metric_keys(run_id)

    @app.get("/api/runs/{run_id}/metrics/{key:path}")
    def series(run_id: str, key: str, max_points: int = Query(MAX_POINTS, ge=4, le=100_000),
               db: RunStore = Depends(store)) -> dict[str, Any]:
        db.get_run(run_id)
        if key not in db.metric_keys(run_id):
            return error(404, f"run {run_id} has no metric {key!r}", f"GET /api/runs/{run_id}/metrics lists them")
        data = db.metric_series(run_id, key)
        steps, values = envelope(data.steps, data.values, max_points)
        return {"key": key, "points": len(data), "returned": len(steps), "steps": steps.tolist(),
                "values": values.tolist()}

    @app.get("/api/runs/{run_id}/episodes")
    def episodes(run_id: str, limit: int = Query(1_000, ge=1, le=100_000),
                 db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        db.get_run(run_id)
        return db.episodes(run_id, limit=limit)

    @app.get("/api/runs/{run_id}/artifacts")
    def artifacts(run_id: str, db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        return db.get_run(run_id)["artifacts"]

    @app.get("/api/runs/{run_id}/files/{path:path}")
    def run_file(run_id: str, path: str, db: RunStore = Depends(store)) -> Any:
        run_dir = db.get_run(run_id)["run_dir"]
        target = confined(Path(run_dir), path) if run_dir else None
        if target is None:
            return error(403, f"{path!r} is not a file name inside run {run_id}",
                         "give a path relative to the run directory, as the artifact manifest lists them")
        if not target.is_file():
            return error(404, f"run {run_id} has no file {path!r}", f"GET /api/runs/{run_id}/artifacts lists them")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media_type)  # answers Range requests (video seeking)

    @app.get("/api/runs/{run_id}/stream")
    async def stream(run_id: str, request: Request, types: str | None = None,
                     after: int = Query(-1, ge=-1, description="resume after this seq (Last-Event-ID wins)")) -> Any:
        with RunStore(db_path) as db:
            row = db.get_run(run_id)
        last = request.headers.get("last-event-id", "")
        after = int(last) if last.isdigit() else after
        wanted = {kind.strip() for kind in types.split(",")} if types else None
        return StreamingResponse(_events(Path(row["log_path"]), db_path, run_id, after, wanted, request),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @app.post("/api/runs", status_code=201)
    def start(body: StartRequest) -> dict[str, Any]:
        service = _service()
        try:
            run_id = service.start(body.runner, option_flags(body.runner, body.options), name=body.name)
            return _summary(service.store.get_run(run_id))
        except UnknownNameError as exc:  # an unknown option or runner is bad input here, not a missing run
            raise UsageError(exc.message, hint=exc.hint) from None
        finally:
            service.close()

    @app.post("/api/runs/{run_id}/stop")
    def stop(run_id: str) -> dict[str, Any]:
        service = _service()
        try:
            return {"run_id": run_id, "state": service.stop(run_id)}
        finally:
            service.close()

    def _service() -> TrainerService:
        if options is None:
            raise HTTPException(405, "this server only reads runs")
        return TrainerService(options)

    add_registry_routes(app, db_path, options)
    boards = TensorBoards()
    app.router.on_shutdown.append(boards.stop_all)

    @app.post("/api/runs/{run_id}/tensorboard")
    def tensorboard(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        return boards.start(run_id, Path(db.get_run(run_id)["run_dir"]))

    @app.delete("/api/runs/{run_id}/tensorboard")
    def tensorboard_stop(run_id: str) -> dict[str, Any]:
        return {"run_id": run_id, "stopped": boards.stop(run_id)}

    @app.get("/api/runners")
    def runners() -> list[dict[str, str]]:
        return [{"name": name, "description": runner.description} for name, runner in RUNNERS.items()]

    return app


def option_flags(runner: str, values: dict[str, Any]) -> list[str]:
    """A request's options as ``--section.key value`` flags, checked against the option schema by the
    runner. Only our own trainer is started from a request: a ``command`` or ``cleanrl`` run executes
    a program of the caller's choosing, which takes the CLI (a person at the machine)."""
    if runner != "rlops":
        raise UsageError(f"runner {runner!r} cannot be started over HTTP",
                         hint="start it with rlops runs start --runner ... on the machine; the API starts rlops runs")
    flags = []
    for key, value in values.items():
        if not isinstance(key, str) or "." not in key:
            raise UsageError(f"option {key!r} is not section.key", hint="e.g. {\"train.total_timesteps\": 5000}")
        flags += [f"--{key.replace('_', '-')}", value if isinstance(value, str) else json.dumps(value)]
    return flags


async def _events(log_path: Path, db_path: str | Path, run_id: str, after: int, wanted: set[str] | None,
                  request: Request) -> AsyncIterator[str]:
    """SSE of the run's records after ``after``, read from its log as it grows, until the run has
    ended and everything is sent (or the client leaves). A comment every few seconds keeps
    proxies from closing an idle stream."""
    offset, partial, idle = 0, b"", 0.0
    while not await request.is_disconnected():
        data = b""
        if log_path.exists():
            with open(log_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read(READ_BLOCK)
        offset += len(data)
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        for line in lines:
            try:
                record = decode(line)
            except EventError:
                continue  # the validator's business; a stream carries records
            if record.seq > after and (wanted is None or record.type in wanted):
                yield f"id: {record.seq}\nevent: {record.type}\ndata: {encode(record)}\n\n"
        if data:
            idle = 0.0
            continue
        with RunStore(db_path) as db:
            ended = db.get_run(run_id)["status"] not in ("queued", "running")
        if ended and not partial:
            yield "event: eof\ndata: {}\n\n"
            return
        idle += STREAM_POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(STREAM_POLL_S)


def confined(run_dir: Path, path: str) -> Path | None:
    """The file ``path`` names inside ``run_dir``, or None if it could be anywhere else. The server
    has decoded the URL once; what is left is taken literally (``%2e%2e`` is a file name), and a
    path with a NUL, a backslash, a drive or a root, or that resolves (symlinks followed) outside
    the run directory, is refused."""
    if not path or "\x00" in path or "\\" in path or path.startswith("/") or ":" in path.split("/", 1)[0]:
        return None
    root = run_dir.resolve()
    try:
        target = (root / path).resolve()
    except (OSError, ValueError):
        return None
    return target if target.is_relative_to(root) and target != root else None


SUMMARY = ("run_id", "status", "reason", "runner", "env_id", "algorithm", "created", "started", "ended",
           "env_steps", "episodes", "last_return", "best_eval", "sps", "exit_code")


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in SUMMARY}
