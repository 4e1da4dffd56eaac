"""`rlops ui` as a real process: it supervises the runs directory and guards its API (Host,
Origin, token)."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from pathlib import Path

from rlops.orchestrator.daemon import daemon_running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def start_ui(*args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "rlops", "ui", "--ui.port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)


def stop_ui(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(15)
    process.stderr.close()


def test_the_ui_guards_host_and_origin_and_supervises():
    process, port = start_ui()
    try:
        own = {"Host": f"127.0.0.1:{port}"}
        assert request(port, "GET", "/api/health", own) == 200
        assert request(port, "GET", "/api/health", {"Host": f"localhost:{port}"}) == 200
        assert request(port, "GET", "/api/runs", {"Host": "evil.example"}) == 403  # DNS rebinding
        assert request(port, "POST", "/api/runs", {**own, "Origin": "http://evil.example"}) == 403  # CSRF
        assert daemon_running(Path("rlruns"))  # its supervisor holds the runs directory
    finally:
        stop_ui(process)
    assert not daemon_running(Path("rlruns"))


def test_a_token_is_checked_when_set():
    process, port = start_ui("--ui.token", "s3cret")
    try:
        own = {"Host": f"127.0.0.1:{port}"}
        assert request(port, "GET", "/api/health", own) == 401
        assert request(port, "GET", "/api/health", {**own, "Authorization": "Bearer wrong"}) == 401
        assert request(port, "GET", "/api/health", {**own, "Authorization": "Bearer s3cret"}) == 200
        assert request(port, "GET", "/api/health?token=s3cret", own) == 200  # for <video src=...>
        # The page's files hold no data and load without it; everything under /api/ needs it.
        assert request(port, "GET", "/", own) == 200 and request(port, "GET", "/static/app.js", own) == 200
        assert request(port, "GET", "/static/../api/health", own) == 401
        assert request(port, "GET", "/docs", own) == 401
    finally:
        stop_ui(process)
