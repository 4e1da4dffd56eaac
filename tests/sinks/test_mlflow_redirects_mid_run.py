"""A tracking server that starts redirecting mid-run: the MLflow sink's calls are refused (nothing
connects where it points), and the one warning is rlops's own: what the server answered and where it
points, that rlops does not follow it and why, what to set, and that the records stay in the run's
log for ``rlops export``. MLflow's raw "API request to endpoint ... failed with error code" is not it.

The server is a real loopback HTTP server answering the few REST calls the sink makes for the
first N requests, then redirecting every request to a listener on 127.0.0.2 that counts the
connections it gets (``test_mlflow_redirects.Listener``). MLflow's own REST client does the calling.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import Episode, Meta, Metrics
from rlops.options import resolve_options
from rlops.sinks.base import RunContext
from rlops.sinks.mlflow import MlflowSink
from rlops.sinks.recorder import RunRecorder, new_trace_id
from rlops.store.run_dir import create_run_directory
from tests.sinks.test_mlflow_redirects import Listener


def tracking_server(target: str, artifacts: str) -> ThreadingHTTPServer:
    """Answers as a tracking server with one experiment and no runs while ``len(requests) <
    redirect_after`` (None: always); from then on redirects every request (307) to ``target``."""
    run = {"info": {"run_id": "m1", "run_uuid": "m1", "experiment_id": "1", "status": "RUNNING",
                    "lifecycle_stage": "active", "start_time": 1, "artifact_uri": artifacts}, "data": {}}
    answers = {
        "/api/2.0/mlflow/experiments/get-by-name": {"experiment": {"experiment_id": "1", "name": "default",
                                                                   "lifecycle_stage": "active"}},
        "/api/2.0/mlflow/runs/search": {"runs": []},
        "/api/2.0/mlflow/runs/create": {"run": run},
        "/api/2.0/mlflow/runs/update": {"run_info": run["info"]},
    }

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with server.lock:
                server.requests.append(f"{self.command} {self.path}")
                redirect = server.redirect_after is not None and len(server.requests) > server.redirect_after
            if redirect:
                self.send_response(307)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"OK" if self.path == "/health" else json.dumps(answers.get(self.path.split("?")[0], {})).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests, server.redirect_after, server.lock = [], None, threading.Lock()  # type: ignore[attr-defined]
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


def test_a_server_that_starts_redirecting_mid_run_is_refused_in_rlops_words(forbidden, tmp_path, caplog):
    target = f"http://127.0.0.2:{forbidden.port}"
    server = tracking_server(target, (tmp_path / "artifacts").as_uri())
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    options = resolve_options(environ={}, args=["--store.tracking-uri", uri, "--store.model-dir",
                                                str(tmp_path / "rlruns")]).options
    run = create_run_directory(options.store.model_dir, "moved")
    trace_id = new_trace_id()
    try:
        sink = MlflowSink.for_run(RunContext("moved", run.path, run.events_file, options, trace_id))
        server.redirect_after = len(server.requests) + 1  # the meta record's params still arrive, then no more
        recorder = RunRecorder("moved", run.events_file, sinks=[sink], trace_id=trace_id)
        with caplog.at_level(logging.WARNING, logger="rlops"):
            recorder.emit(Meta(config={"train": {"learning_rate": 0.001}}, seed=1))
            recorder.dispatcher.drain(timeout=5.0)
            for round_ in range(3):  # each round's metrics are a log_batch call, refused
                for i in range(3):
                    recorder.emit(Episode(episode=3 * round_ + i, episode_return=1.0 + i, length=9, env_steps=9))
                recorder.emit(Metrics(env_steps=30 * (round_ + 1), sps=100.0, values={"train/value_loss": 0.5}))
                recorder.dispatcher.drain(timeout=5.0, flush=True)
            end = recorder.close(env_steps=90, timeout=5.0)
    finally:
        server.shutdown()
        server.server_close()

    assert forbidden.connections == 0  # nothing went where the server pointed
    assert "POST /api/2.0/mlflow/runs/log-batch" in server.requests[:server.redirect_after]  # the params arrived
    records = [record for _, record in read_records(run.events_file)]
    assert len(records) == end.seq + 1 and records[-1].type == "end"  # the log holds every record
    assert end.dropped["mlflow"] >= 12  # the episodes and metrics of every round, counted

    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sink mlflow")]
    assert len(reports) == 1, reports  # once, however many calls were refused
    (said,) = reports
    assert f"MLflow tracking server {uri} answered /api/2.0/mlflow/runs/log-batch with a redirect (HTTP 307) " \
           f"to {target}/api/2.0/mlflow/runs/log-batch" in said, said
    assert "rlops does not follow a tracking server's redirects" in said and "credentials and body" in said, said
    assert f"stays in the run's log {run.events_file.resolve()}" in said, said
    assert "hint: set --store.tracking-uri to the address that answers without redirecting " \
           f"(if {target} is your tracking server, that one)" in said, said
    assert "`rlops export moved --to mlflow --store.tracking-uri <that address>`" in said, said
    assert "API request to endpoint" not in said  # not MLflow's raw text
    # The server was asked where log-batch points once (a GET, no body), not at every refused call.
    assert server.requests.count("GET /api/2.0/mlflow/runs/log-batch") == 1
