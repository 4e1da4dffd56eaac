"""An OTLP/HTTP collector that answers a batch with a redirect has not received it: the otel sink
counts its items lost (the end record's ``dropped.otel``), warns once per signal naming the
endpoint, where it points and what to do, and still connects nowhere else. The SDK alone takes
any status below 400 for a delivery, so before this such batches vanished uncounted.

The collector is a real loopback HTTP server; where it points is a listener on 127.0.0.2 that
counts the connections it gets (``test_mlflow_redirects.Listener``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import Episode, Meta, Metrics
from rlops.options import resolve_options
from rlops.sinks.otel import OtelSink
from rlops.sinks.recorder import RunRecorder, new_trace_id
from tests.sinks.test_mlflow_redirects import Listener

SIGNALS = ("metrics", "traces", "logs")


def answering_server(status: int, location: str | None) -> ThreadingHTTPServer:
    """Answers every request with ``status`` (and ``Location: <location><path>`` when given)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            server.requests.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            if location is not None:
                self.send_header("Location", location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

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


def run_through(endpoint: str, tmp_path, rounds: int = 3):
    """A few rounds of records through a recorder with the otel sink, each round flushed (an export
    of every signal), then the end: the sink, its end record and the log's records."""
    options = resolve_options(environ={}, args=["--metrics.exporter", "otlp", "--metrics.protocol", "http",
                                                "--metrics.endpoint", endpoint]).options
    trace_id = new_trace_id()
    sink = OtelSink(options, tmp_path, "redirected", trace_id)
    recorder = RunRecorder("redirected", tmp_path / "train_log.jsonl", sinks=[sink], trace_id=trace_id)
    recorder.emit(Meta(config={}, seed=1))
    for round_ in range(rounds):
        for i in range(4):
            recorder.emit(Episode(episode=4 * round_ + i, episode_return=10.0 + i, length=20, env_steps=80 * round_))
        recorder.emit(Metrics(env_steps=80 * (round_ + 1), sps=1000.0, values={"train/value_loss": 0.5}))
        recorder.dispatcher.drain(timeout=5.0, flush=True)
    end = recorder.close(env_steps=240, timeout=5.0)
    return sink, end, [record for _, record in read_records(tmp_path / "train_log.jsonl")]


@pytest.mark.parametrize("status", [302, 307])
def test_a_batch_answered_with_a_redirect_is_counted_lost_and_said_once(status, forbidden, tmp_path, caplog):
    target = f"http://127.0.0.2:{forbidden.port}"
    collector = answering_server(status, target)
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        with caplog.at_level(logging.WARNING, logger="rlops"):
            sink, end, records = run_through(endpoint, tmp_path)
    finally:
        collector.shutdown()
        collector.server_close()

    assert set(collector.requests) == {f"/v1/{signal}" for signal in SIGNALS}  # each signal tried
    assert forbidden.connections == 0  # and nothing followed where the collector pointed
    assert all(delivery.delivered == 0 for delivery in sink.deliveries.values())  # no batch taken for delivered
    assert end.dropped["otel"] > 0 and all(sink.deliveries[signal].lost > 0 for signal in SIGNALS)
    assert len(records) == end.seq + 1 and records[-1].type == "end"  # the log lost nothing

    warnings = [r.getMessage() for r in caplog.records if "otel" in r.getMessage() and "export to" in r.getMessage()]
    for signal in SIGNALS:  # once per signal, though every round's batch failed
        (said,) = [message for message in warnings if message.startswith(f"otel {signal} export to")]
        assert said.startswith(f"otel {signal} export to {endpoint}/v1/{signal} (OTLP/HTTP) failed"), said
        assert f"the collector answered HTTP {status}" in said, said
        assert f"a redirect to {target}/v1/{signal}" in said, said
        assert "rlops does not follow an OTLP collector's redirects" in said, said
        assert f"point {signal}.endpoint" in said and "at the final address" in said, said
        assert "dropped.otel" in said and "the JSONL log stays complete" in said, said
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry") and r.levelno >= logging.WARNING]


def test_a_3xx_without_a_location_is_not_a_delivery_either(tmp_path, caplog):
    collector = answering_server(304, None)  # below 400, so the SDK alone would call it delivered
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        with caplog.at_level(logging.WARNING, logger="rlops"):
            sink, end, _ = run_through(endpoint, tmp_path, rounds=1)
    finally:
        collector.shutdown()
        collector.server_close()
    assert end.dropped["otel"] > 0 and all(delivery.delivered == 0 for delivery in sink.deliveries.values())
    (said,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("otel traces export to")]
    assert "answered HTTP 304 Not Modified, which is not a delivery" in said and "traces.endpoint" in said, said


def test_a_collector_that_answers_2xx_still_counts_as_delivered(tmp_path, caplog):
    collector = answering_server(200, None)  # an empty 200 is what the SDK reads as a full success
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    try:
        with caplog.at_level(logging.WARNING, logger="rlops"):
            sink, end, _ = run_through(endpoint, tmp_path, rounds=1)
    finally:
        collector.shutdown()
        collector.server_close()
    assert "otel" not in end.dropped and all(sink.deliveries[signal].delivered > 0 for signal in SIGNALS)
    assert not [r for r in caplog.records if "export to" in r.getMessage()]
