"""A run's log text: the program's own output (``output.log`` of a supervised run, ``train.log``
of ``rlops train`` in a terminal), the tail and then the lines as they are written.

    GET /api/runs/{run_id}/logs?tail=500           {"lines": [...], "offset": N, "file": "output.log"}
    GET /api/runs/{run_id}/logs/stream?after=N     SSE ``line`` events, ``id`` = the byte offset after
                                                   the line (Last-Event-ID resumes), ``eof`` at the end
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from rlops.api.follow import EOF_EVENT, KEEPALIVE, failure_event, follow_lines, tail_lines
from rlops.errors import RlopsError, UnknownNameError
from rlops.store.run_dir import LAUNCH_FILE, OUTPUT_FILE, TEXT_LOG_FILE
from rlops.store.run_status import LIVE, RunStatus
from rlops.store.runs import RunStore

LOG_FILES = (OUTPUT_FILE, TEXT_LOG_FILE)  # the first that exists is the run's log
EXIT_WAIT_S = 30.0  # the most a program prints after its end record that the stream waits for


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
        if not run["run_dir"]:
            raise UnknownNameError("run directory of run", run_id, [], hint="this run has no directory, so no log")
        last = request.headers.get("last-event-id", "")
        offset = int(last) if last.isdigit() else after
        path = log_file(run) or Path(run["run_dir"]) / LOG_FILES[0]

        def finished() -> bool:
            with RunStore(db_path) as fresh:
                return output_done(fresh.get_run(run_id))

        return StreamingResponse(_lines(path, offset, finished, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def output_done(run: dict[str, Any]) -> bool:
    """Whether the run's program has written its last line. A supervised run's status changes when
    its ``end`` record is read, and the program may print after it (a W&B URL...): its output is
    done when its exit status is in, when it was lost, or a while after it ended in any case."""
    if run["status"] in LIVE:
        return False
    supervised = bool(run["run_dir"]) and (Path(run["run_dir"]) / LAUNCH_FILE).is_file()
    ended_long_ago = time.time() - (run["ended"] or run["updated"] or 0) > EXIT_WAIT_S
    return not supervised or run["exit_code"] is not None or run["status"] == RunStatus.LOST or ended_long_ago


def log_file(run: dict[str, Any]) -> Path | None:
    if not run.get("run_dir"):
        return None
    for name in LOG_FILES:
        if (Path(run["run_dir"]) / name).is_file():
            return Path(run["run_dir"]) / name
    return None


async def _lines(path: Path, offset: int, finished: Callable[[], bool], request: Request) -> AsyncIterator[str]:
    try:
        async for item in follow_lines(path, offset, finished, request):
            if item is None:
                yield KEEPALIVE
                continue
            end, line = item
            text = line.decode("utf-8", "replace").rstrip("\r")
            yield f"id: {end}\nevent: line\ndata: {json.dumps({'text': text})}\n\n"
    except RlopsError as exc:  # the database went bad while the stream was open
        yield failure_event(exc)
        return
    yield EOF_EVENT
