"""S06: a tracking server that passed the allowlist cannot send a run's requests elsewhere with a
redirect. MLflow's REST client (requests) follows redirects, a POST body with it on a 307; the
sink refuses them before connecting to where they point, says so, and the run goes on with a
complete JSONL log.

The server is a real loopback HTTP server; where it redirects is a second listener on 127.0.0.2
(loopback too, standing in for 169.254.169.254 or 10.x) that counts the connections it gets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlops.errors import BackendError
from rlops.events.reader import read_records
from rlops.events.validate import validate_log
from rlops.options import resolve_options
from rlops.sinks.base import RunContext
from rlops.sinks.mlflow import MlflowSink
from rlops.sinks.recorder import new_trace_id
from rlops.store.run_dir import create_run_directory
from tests.helpers import train_tiny


class Listener:
    """Where the redirects point: accepts and counts connections, never answers."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        try:
            self.socket.bind(("127.0.0.2", 0))
        except OSError:
            self.socket.close()
            pytest.skip("127.0.0.2 is not a loopback address here")
        self.socket.listen(8)
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def redirecting_server(status: int, target: str, paths: tuple[str, ...]) -> ThreadingHTTPServer:
    """Redirects every request to ``paths``; else answers as a server without experiments would."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            server.requests.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            if any(self.path.startswith(prefix) for prefix in paths):
                self.send_response(status)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                missing = self.path.startswith("/api/")  # the experiment is not there: the sink creates it
                body = b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such experiment"}' if missing \
                    else b"OK"
                self.send_response(404 if missing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_HEAD = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []  # type: ignore[attr-defined]  # the paths asked for, in order
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def forbidden() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(autouse=True)
def _mlflow_environment(monkeypatch) -> None:
    # The sink sets MLflow's HTTP settings in the process's environment: put them back after the test.
    for name in ("MLFLOW_ALLOW_HTTP_REDIRECTS", "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


def open_sink(tmp_path, uri: str) -> MlflowSink:
    options = resolve_options(environ={}, args=["--store.tracking-uri", uri, "--store.run-name", "redirected",
                                                "--store.model-dir", str(tmp_path / "rlruns")]).options
    run = create_run_directory(options.store.model_dir, "redirected")
    return MlflowSink.for_run(RunContext("redirected", run.path, run.events_file, options, new_trace_id()))


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("paths", [("/api/",), ("/health", "/api/"), ("/api/2.0/mlflow/experiments/create",)],
                         ids=["api", "everything", "create"])
def test_a_redirect_from_the_tracking_server_is_refused_before_connecting_where_it_points(
        status, paths, forbidden, tmp_path):
    target = f"http://127.0.0.2:{forbidden.port}"
    server = redirecting_server(status, target, paths)
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(BackendError) as refused:
            open_sink(tmp_path, uri)
    finally:
        server.shutdown()
        server.server_close()
    message = str(refused.value)
    if "/api/" in paths:  # the reachability probe saw it, and names where it points
        assert f"MLflow tracking server {uri} redirected" in message and target in message, message
    else:  # MLflow's client met it (a POST) and did not follow it
        assert f"MLflow tracking server {uri} answered with a redirect (HTTP {status})" in message, message
    assert "rlops does not follow a tracking server's redirects" in message
    assert forbidden.connections == 0  # refused before any connection there


@pytest.mark.slow  # a tiny training: ~7 s at load 4
def test_a_run_whose_tracking_server_redirects_finishes_with_a_complete_log(forbidden, caplog):
    target = f"http://127.0.0.2:{forbidden.port}"
    server = redirecting_server(307, target, ("/api/",))
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = train_tiny("ppo", "--store.backend", "mlflow", "--store.tracking-uri", uri, steps=128)
    finally:
        server.shutdown()
        server.server_close()
    records = [record for _, record in read_records(result.run.events_file)]
    assert records[-1].type == "end" and records[-1].status == "finished"
    assert records[-1].dropped["mlflow"] == records[-1].seq + 1  # every record, the end included
    assert validate_log(result.run.events_file).ok
    reports = [r.getMessage() for r in caplog.records if "sink mlflow is unavailable" in r.getMessage()]
    assert len(reports) == 1 and target in reports[0] and "does not follow" in reports[0], reports
    assert forbidden.connections == 0
