"""The runs: what the dashboard lists and draws, and starting and stopping them.

    GET  /api/health
    GET  /api/runs?status=&runner=&env_id=&algorithm=&q=&limit=   newest first
    GET  /api/runs/{run_id}
    GET  /api/runs/{run_id}/metrics                    the run's metric keys
    GET  /api/runs/{run_id}/metrics/{key}?max_points=  a series, downsampled with its peaks kept
    GET  /api/runs/{run_id}/episodes?limit=
    GET  /api/runs/{run_id}/artifacts                  the artifact manifest
    GET  /api/runs/{run_id}/files/{path}               a file of the run (Range requests for video)
    GET  /api/runs/{run_id}/stream?types=              server-sent events: the run's records as they are
                                                       written (id = seq:offset; resumable with Last-Event-ID)
    POST /api/runs  {"runner": "rlops", "options": {"train.total_timesteps": 5000, ...}, "name": ...}
    POST /api/runs/{run_id}/stop
    GET|POST|DELETE /api/runs/{run_id}/tensorboard     TensorBoard for the run on a free port
    GET  /api/runners                                  the catalog, with capabilities

Each request opens the run store for itself (SQLite connections are per thread; WAL readers
never block the writers).
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from rlops import __version__
from rlops.api.downsample import envelope
from rlops.api.errors import error
from rlops.api.follow import EOF_EVENT, KEEPALIVE, follow_lines
from rlops.api.options_api import checked_options
from rlops.api.reach import Reach
from rlops.api.tensorboard_launcher import TensorBoards
from rlops.errors import UnknownNameError, UsageError
from rlops.events.schema import EventError, decode, encode
from rlops.options.schema import Options
from rlops.orchestrator.launch import LAUNCH_FILE
from rlops.orchestrator.runners import RUNNERS
from rlops.orchestrator.service import TrainerService
from rlops.store.runs import RunStore

MAX_POINTS = 2_000  # a chart's default budget: a few pixels per point on a wide screen
LIVE = ("queued", "running")
PRIVATE_FILES = {LAUNCH_FILE}  # the launch snapshot holds the starter's whole environment (credentials)
INLINE_TYPES = ("video/", "image/", "text/", "application/json")
ACTIVE_TYPES = {"image/svg+xml", "text/html", "text/javascript", "text/xml", "application/xhtml+xml"}


class StartRequest(BaseModel):
    runner: str = "rlops"
    options: dict[str, Any] = Field(default_factory=dict, description="dotted option: value, as in a TOML file")
    name: str | None = None


def add_runs_routes(app: FastAPI, db_path: str | Path, options: Options | None,
                    store: Callable[[], Iterator[RunStore]]) -> None:
    """The runs routes over the store at ``db_path``; with ``options`` (the orchestrator's), runs
    can also be started and stopped."""

    @app.get("/api/health")
    def health(db: RunStore = Depends(store)) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for status, count in db.connection.execute("SELECT status, count(*) FROM runs GROUP BY status"):
            counts[status] = count
        return {"ok": True, "version": __version__, "runs": counts, "can_start": options is not None,
                "max_concurrent": options.orchestrator.max_concurrent if options else None}

    @app.get("/api/runs")
    def runs(status: str | None = None, runner: str | None = None, env_id: str | None = None,
             algorithm: str | None = None, q: str | None = Query(None, description="a part of the run's name"),
             limit: int = Query(200, ge=1, le=100_000), db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        rows = db.list_runs(status=status)
        rows = [row for row in rows if (runner is None or row["runner"] == runner)
                and (env_id is None or row["env_id"] == env_id) and (algorithm is None or row["algorithm"] == algorithm)
                and (q is None or q.lower() in row["run_id"].lower())]
        return [summary(row) for row in rows[:limit]]

    @app.get("/api/runs/{run_id}")
    def run(run_id: str, db: RunStore = Depends(store)) -> dict[str, Any]:
        return db.get_run(run_id)

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

    @app.get("/api/runs/{run_id}/files/{path:path}")
    def run_file(run_id: str, path: str, db: RunStore = Depends(store)) -> Any:
        run_dir = db.get_run(run_id)["run_dir"]
        target = confined(Path(run_dir), path) if run_dir else None
        if target is None:
            return error(403, f"{path!r} is not a file name inside run {run_id}",
                         "give a path relative to the run directory, as the artifact manifest lists them")
        if target.name in PRIVATE_FILES and target.parent == Path(run_dir).resolve():
            return error(403, f"{path!r} holds the environment the run was launched with and is not served",
                         "the run's options are at GET /api/runs/{id} (config)")
        if not target.is_file():
            return error(404, f"run {run_id} has no file {path!r}", f"GET /api/runs/{run_id}/artifacts lists them")
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # A run writes what it likes: nothing it wrote may run as a page of this origin (where the
        # API and the token are). Media and text show inline; anything else downloads.
        headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
        if not media_type.startswith(INLINE_TYPES) or media_type in ACTIVE_TYPES:
            headers["Content-Disposition"] = "attachment"
            media_type = "application/octet-stream" if media_type in ACTIVE_TYPES else media_type
        return FileResponse(target, media_type=media_type, headers=headers)  # answers Range requests (video seeking)

    @app.get("/api/runs/{run_id}/stream")
    async def stream(run_id: str, request: Request, types: str | None = None,
                     after: int = Query(-1, ge=-1, description="resume after this seq (Last-Event-ID wins)"),
                     db: RunStore = Depends(store)) -> Any:
        row = db.get_run(run_id)
        after, offset = resume_point(request.headers.get("last-event-id", ""), after, Path(row["log_path"]))
        wanted = {kind.strip() for kind in types.split(",")} if types else None

        def finished() -> bool:
            with RunStore(db_path) as fresh:
                return fresh.get_run(run_id)["status"] not in LIVE

        return StreamingResponse(_records(Path(row["log_path"]), after, offset, wanted, finished, request),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    reach = Reach.of(options)  # what a request's options may name: the server's [ui] allowlists

    @app.post("/api/runs", status_code=201)
    def start(body: StartRequest) -> dict[str, Any]:
        service = _service()
        try:
            flags = option_flags(body.runner, checked_options(body.options, reach))
            run_id = service.start(body.runner, flags, name=body.name)
            return summary(service.store.get_run(run_id))
        except UnknownNameError as exc:  # an unknown runner is bad input here, not a missing thing
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

    @app.get("/api/runners")
    def runners() -> list[dict[str, Any]]:
        return [{"name": name, "description": runner.description, "http_start": name == HTTP_RUNNER,
                 "capabilities": {"warm_start": runner.warm_start, "emits": runner.emits},
                 "options": "/api/options" if name == HTTP_RUNNER else None}
                for name, runner in RUNNERS.items()]


HTTP_RUNNER = "rlops"


def option_flags(runner: str, values: dict[str, Any]) -> list[str]:
    """A request's options as ``--section.key value`` flags, checked against the option schema by the
    runner. Only our own trainer is started from a request: a ``command`` or ``cleanrl`` run executes
    a program of the caller's choosing, which takes the CLI (a person at the machine)."""
    if runner != HTTP_RUNNER:
        raise UsageError(f"runner {runner!r} cannot be started over HTTP",
                         hint="start it with rlops runs start --runner ... on the machine; the API starts rlops runs")
    flags = []
    for key, value in values.items():
        if not isinstance(key, str) or "." not in key:
            raise UsageError(f"option {key!r} is not section.key", hint="e.g. {\"train.total_timesteps\": 5000}")
        # One token per option: a value can never be read as a flag of its own.
        flags.append(f"--{key.replace('_', '-')}={value if isinstance(value, str) else json.dumps(value)}")
    return flags


async def _records(log_path: Path, after: int, offset: int, wanted: set[str] | None, finished: Callable[[], bool],
                   request: Request) -> AsyncIterator[str]:
    """SSE of the run's records after ``after``, read from its log (from byte ``offset``) as it
    grows, until the run has ended and everything is sent (or the client leaves). Each event's
    id is ``seq:offset``: a reconnect goes on from that byte instead of reading the log again."""
    async for item in follow_lines(log_path, offset, finished, request):
        if item is None:
            yield KEEPALIVE
            continue
        try:
            record = decode(item[1])
        except EventError:
            continue  # the validator's business; a stream carries records
        if record.seq > after and (wanted is None or record.type in wanted):
            yield f"id: {record.seq}:{item[0]}\nevent: {record.type}\ndata: {encode(record)}\n\n"
    yield EOF_EVENT


def resume_point(last_event_id: str, after: int, log_path: Path) -> tuple[int, int]:
    """Where a stream goes on: the seq to send after, and the byte of the log to read from. A
    ``seq:offset`` id is trusted for its offset only if a line ends just before it (a log
    rewritten since, or a made-up id, reads from the start: the seq filter still holds)."""
    seq, _, offset = last_event_id.partition(":")
    if not seq.isdigit():
        return after, 0
    if not offset.isdigit() or int(offset) == 0:
        return int(seq), 0
    try:
        with open(log_path, "rb") as handle:
            handle.seek(int(offset) - 1)
            at_line_end = handle.read(1) == b"\n"
    except OSError:
        at_line_end = False
    return int(seq), int(offset) if at_line_end else 0


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


SUMMARY = ("run_id", "status", "reason", "runner", "env_id", "algorithm", "created", "started", "ended", "updated",
           "env_steps", "episodes", "last_return", "best_eval", "sps", "exit_code")


def summary(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in SUMMARY}
