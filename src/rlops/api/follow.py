"""Following a growing file as server-sent events: complete lines only, from a byte offset, until
the writer is done and everything is read (or the client leaves).

A line still being written (no newline yet) waits for its end; a comment goes out every
``KEEPALIVE_S`` of silence so that proxies do not close an idle stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.requests import Request

from rlops.api.errors import status_of
from rlops.errors import RlopsError
from rlops.store.lines import READ_BLOCK, LineReader

# How often a follower looks for new lines: a record waits up to this long for the stream (the
# 250 ms of an earlier version put the p95 latency right at the dashboard's 250 ms target); a
# look is one read of a file at its end.
POLL_S = 0.1
FINISHED_EVERY_S = 1.0  # how often an idle follower asks whether the writer is done (a database read)
KEEPALIVE_S = 15.0
KEEPALIVE = ": keep-alive\n\n"
EOF_EVENT = "event: eof\ndata: {}\n\n"


def failure_event(exc: RlopsError) -> str:
    """The last event of a stream that cannot go on (its database went bad under it): the routes'
    one error shape, under a name no record type has ("error" is one), so the page can say why."""
    body = {"error": {"status": status_of(exc), "message": exc.message, "hint": exc.hint}}
    return f"event: failed\ndata: {json.dumps(body)}\n\n"


async def follow_lines(path: Path, offset: int, finished: Callable[[], bool],
                       request: Request) -> AsyncIterator[tuple[int, bytes] | None]:
    """``(offset after the line, line)`` for each complete line from ``offset``; ``None`` when a
    keep-alive is due. ``finished()`` is asked only when the file has nothing new, and the file is
    read once more after it says yes, so that the last lines are never lost to the race."""
    reader, idle, asked = LineReader(path, offset), 0.0, 0.0
    while not await request.is_disconnected():
        before = reader.read_to
        for item in reader.lines():
            yield item
        if reader.read_to != before:
            idle = 0.0
            continue
        if time.monotonic() - asked >= FINISHED_EVERY_S:
            asked = time.monotonic()
            if await asyncio.to_thread(finished):  # a database read: off the event loop
                for item in reader.lines(final=True):  # all that was written before it finished
                    yield item  # the last of them perhaps a line the writer never ended
                return
        idle += POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield None
        await asyncio.sleep(POLL_S)


def tail_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The last ``count`` complete lines of a file and the offset after them (the file's size
    up to its last newline), reading at most a few blocks from the end."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [], 0
    start = max(0, size - 4 * READ_BLOCK)
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(size - start)
    end = data.rfind(b"\n") + 1  # a line still being written is left for the stream
    lines = data[:end].split(b"\n")[:-1]
    if start > 0:
        lines = lines[1:]  # the first may be cut
    return [line.decode("utf-8", "replace") for line in lines[-count:]], start + end
