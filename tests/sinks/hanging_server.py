"""Servers that fail the way a real network does, on loopback, for the remote-sink fault tests.

``HangingServer`` accepts every connection and never answers (a tracking server stuck in a
deadlock, a proxy that lost its upstream): a client's connect succeeds, its read waits for ever.
``refused_port`` is a port nobody listens on: a connect fails at once with ECONNREFUSED.
"""

from __future__ import annotations

import socket
import threading


class HangingServer:
    """Accepts on 127.0.0.1 and holds each connection open, reading nothing and sending nothing."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0  # connections taken: proves the client did get through the connect
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hanging-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)
            self.accepted += 1

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self._listener.close()
        for connection in self._held:
            connection.close()

    def __enter__(self) -> HangingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refused_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
