"""A run's log text: the program's own output (``output.log`` of a supervised run, ``train.log``
of ``rlops train`` in a terminal), the tail and then the lines as they are written.

    GET /api/runs/{run_id}/logs?tail=500           {"lines": [...], "offset": N, "file": "output.log"}
    GET /api/runs/{run_id}/logs/stream?after=N     SSE ``line`` events, ``id`` = the byte offset after
                                                   the line (Last-Event-ID resumes), ``eof`` at the end
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from rlops.api.follow import EOF_EVENT, KEEPALIVE, follow_lines, tail_lines
from rlops.orchestrator.launch import OUTPUT_FILE
from rlops.store.runs import RunStore

LOG_FILES = (OUTPUT_FILE, "train.log")  # the first that exists is the run's log
LIVE = ("queued", "running")


def add_logs_routes(app: FastAPI, db_path: str | Path, store: Callable[[], Iterator[RunStore]]) -> None:
    @app.get("/api/runs/{run_id}/logs")
    def logs(run_id: str, tail: int = Query(500, ge=1, le=100_000), db: RunStore = Depends(store)) -> dict[str, Any]:
        path = log_file(db.get_run(run_id))
        lines, offset = tail_lines(path, tail) if path else ([], 0)
        return {"lines": lines, "offset": offset, "file": path.name if path else None}

    @app.get("/api/runs/{run_id}/logs/stream")
    async def stream(run_id: str, request: Request,
                     after: int = Query(0, ge=0, description="byte offset to go on from (Last-Event-ID wins)"),
                     db: RunStore = Depends(store)) -> Any:
        run = db.get_run(run_id)
        last = request.headers.get("last-event-id", "")
        offset = int(last) if last.isdigit() else after
        path = log_file(run) or Path(run["run_dir"] or ".") / LOG_FILES[0]

        def finished() -> bool:
            with RunStore(db_path) as fresh:
                return fresh.get_run(run_id)["status"] not in LIVE

        return StreamingResponse(_lines(path, offset, finished, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def log_file(run: dict[str, Any]) -> Path | None:
    if not run.get("run_dir"):
        return None
    for name in LOG_FILES:
        if (Path(run["run_dir"]) / name).is_file():
            return Path(run["run_dir"]) / name
    return None


async def _lines(path: Path, offset: int, finished: Callable[[], bool], request: Request) -> AsyncIterator[str]:
    async for item in follow_lines(path, offset, finished, request):
        if item is None:
            yield KEEPALIVE
            continue
        end, line = item
        text = line.decode("utf-8", "replace").rstrip("\r")
        yield f"id: {end}\nevent: line\ndata: {json.dumps({'text': text})}\n\n"
    yield EOF_EVENT
