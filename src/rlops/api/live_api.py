"""The runs table, live: ``GET /api/stream/runs`` sends every run's summary at connect (newest
first, up to ``limit``) and then each run again whenever its row changes (status, steps, last
return...). Events are ``run`` with the summary as data; ``id`` is the newest ``updated`` time
sent, so a reconnecting client (Last-Event-ID) gets only what changed while it was away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from rlops.api.follow import KEEPALIVE, KEEPALIVE_S, failure_event
from rlops.errors import RlopsError
from rlops.store.recent_returns import with_recent_returns
from rlops.store.runs import RunStore

POLL_S = 0.5
LOOK_BACK_S = 5.0


def add_live_routes(app: FastAPI, db_path: str | Path, summary: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    @app.get("/api/stream/runs")
    async def runs(request: Request, limit: int = Query(1_000, ge=1, le=100_000)) -> Any:
        last = request.headers.get("last-event-id", "")
        try:
            since = float(last) if last else None
        except ValueError:
            since = None
        return StreamingResponse(_changes(db_path, since, limit, summary, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


async def _changes(db_path: str | Path, since: float | None, limit: int,
                   summary: Callable[[dict[str, Any]], dict[str, Any]], request: Request) -> AsyncIterator[str]:
    idle, sent = 0.0, {}  # run id -> the ``updated`` last sent
    try:
        with RunStore(db_path) as db:
            while not await request.is_disconnected():
                # At connect, the newest runs; then each change, oldest change first. Writers stamp
                # ``updated`` before they commit, so a change may land a little in the past: look
                # back a few seconds and send only rows whose stamp is new to this client.
                rows = db.list_runs(limit=limit) if since is None else \
                    sorted(db.list_runs(updated_after=since - LOOK_BACK_S), key=lambda row: row["updated"] or 0)
                changed = [row for row in rows if sent.get(row["run_id"]) != row["updated"]]
                changed = with_recent_returns(db.connection, changed)  # the table's headline return
                since = max([since or 0.0, *(row["updated"] or 0.0 for row in rows)])
                for index, row in enumerate(changed):
                    sent[row["run_id"]] = row["updated"]
                    # The id goes on the batch's last event only: a client cut off inside a batch
                    # resumes from the previous one and misses nothing.
                    stamp = f"id: {since!r}\n" if index == len(changed) - 1 else ""
                    yield f"{stamp}event: run\ndata: {json.dumps(summary(row))}\n\n"
                idle = 0.0 if changed else idle + POLL_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    yield KEEPALIVE
                await asyncio.sleep(POLL_S)
    except RlopsError as exc:  # the database went bad while the stream was open
        yield failure_event(exc)
