"""A run's records as they are written: ``GET /api/runs/{run_id}/stream?types=&after=``, server-sent
events read from the run's log. Each event's id is ``seq:offset``: a reconnect (Last-Event-ID)
goes on from that byte instead of reading the log again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse

from rlops.api.follow import EOF_EVENT, KEEPALIVE, failure_event, follow_lines
from rlops.errors import RlopsError
from rlops.events.schema import EventError, decode, encode
from rlops.store.run_status import LIVE
from rlops.store.runs import RunStore


def add_run_stream_routes(app: FastAPI, db_path: str | Path, store: Callable[[], Iterator[RunStore]]) -> None:
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


async def _records(log_path: Path, after: int, offset: int, wanted: set[str] | None, finished: Callable[[], bool],
                   request: Request) -> AsyncIterator[str]:
    """SSE of the run's records after ``after``, read from its log (from byte ``offset``) as it
    grows, until the run has ended and everything is sent (or the client leaves)."""
    try:
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
    except RlopsError as exc:  # the database went bad while the stream was open
        yield failure_event(exc)
        return
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
