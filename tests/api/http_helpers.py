"""A real server for API tests: the app on uvicorn on a free loopback port, and how to read
what it streams."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn


@contextmanager
def serving(app):
    """The app on a real uvicorn server on a free loopback port, in a thread; an httpx client to it."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict]:
    """A request with the path exactly as given: no client normalises its dot segments."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", target, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, dict(response.getheaders())


def sse(lines: Iterator[str], limit: int | None = None) -> list[tuple[str | None, str, str]]:
    """(id, event, data) of each event in ``lines`` (a response's ``iter_lines()``), until ``limit``
    events or the stream ends. Pass the same iterator again to read on where it stopped: a second
    ``iter_lines()`` on one response would lose the lines already buffered (httpx refuses it)."""
    events, current = [], {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current:
                events.append((current.get("id"), current.get("event", ""),
                               current.get("data", "")))
                current = {}
                if limit is not None and len(events) >= limit:
                    return events
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return events
