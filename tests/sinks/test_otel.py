"""The OpenTelemetry sink against real receivers: what a run's log says must arrive, as metrics,
spans and logs, through the file exporter, OTLP over HTTP and gRPC (decoded with the protocol's
own messages) and a real Prometheus server scraping the run's endpoint."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import End, Episode, Eval, Metrics, Record
from rlops.options import resolve_options
from rlops.services.training import prepare_options, train
from rlops.sinks.otel import SHUTDOWN_TIMEOUT_S, OtelSink
from tests.helpers import tiny_args, train_tiny
from tests.sinks import otel_files
from tests.sinks.otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver
from tests.sinks.prometheus_server import PrometheusServer


def records_of(log: Path) -> list[Record]:
    return [record for _, record in read_records(log)]


def last_points(points: list[dict]) -> dict[tuple, dict]:
    """The newest data point of each (name, attributes): metrics are cumulative, the last one holds the totals."""
    newest = {}
    for point in points:
        newest[(point["name"], tuple(sorted(point["attributes"].items())))] = point
    return newest


def assert_signals_match_log(records: list[Record], points: list[dict], spans: list[dict], logs: list[dict]) -> None:
    episodes = [r for r in records if isinstance(r, Episode)]
    evals = [r for r in records if isinstance(r, Eval)]
    windows = [r for r in records if isinstance(r, Metrics)]
    assert episodes and evals and windows
    trace_id = records[0].trace_id

    # Metrics: the histograms' sum and count are exact, so the mean return equals the log's.
    newest = last_points(points)
    returns = newest[("rl.episode.return", ())]
    assert returns["count"] == len(episodes)
    assert returns["sum"] == pytest.approx(sum(e.episode_return for e in episodes))
    assert newest[("rl.episode.length", ())]["sum"] == sum(e.length for e in episodes)
    assert newest[("rl.sps", ())]["value"] == pytest.approx(windows[-1].sps)
    losses = {key.removeprefix("train/"): value for key, value in windows[-1].values.items() if "loss" in key}
    assert losses
    for name, value in losses.items():
        assert newest[("rl.loss", (("loss", name),))]["value"] == pytest.approx(value)

    # Traces: one trace, the run's own id; the run span is the root, everything else its child.
    assert {span["trace_id"] for span in spans} == {trace_id}
    (run,) = [span for span in spans if span["name"] == "rl.run"]
    assert run["parent_id"] == ""
    assert {span["parent_id"] for span in spans if span is not run} == {run["span_id"]}
    episode_spans = [span for span in spans if span["name"] == "rl.episode"]
    assert sorted(span["attributes"]["rl.episode.return"] for span in episode_spans) == \
        pytest.approx(sorted(e.episode_return for e in episodes))
    (eval_span,) = [span for span in spans if span["name"] == "rl.eval"]
    assert eval_span["attributes"]["rl.eval.mean_reward"] == pytest.approx(evals[-1].mean_reward)
    assert run["attributes"]["rl.end.status"] == "finished"

    # Logs: the milestones, in order, each joined to the run's trace.
    bodies = [entry["body"] for entry in logs]
    assert bodies[0] == "run started" and bodies[-1] == "run ended"
    assert "checkpoint saved" in bodies and "eval done" in bodies
    assert {entry["trace_id"] for entry in logs} == {trace_id}
    (eval_log,) = [entry for entry in logs if entry["body"] == "eval done"]
    assert eval_log["span_id"] == eval_span["span_id"]
    assert eval_log["attributes"]["rl.eval.mean_reward"] == pytest.approx(evals[-1].mean_reward)


def assert_resource(attributes: dict, records: list[Record]) -> None:
    assert attributes["service.name"] == "rlops"
    assert attributes["rlops.run_id"] == records[0].run_id
    assert attributes["rl.env_id"] == "CartPole-v1" and attributes["rl.algorithm"] == "ppo"


def test_the_file_exporter_holds_what_the_log_says():
    result = train_tiny("ppo")
    records = records_of(result.run.events_file)
    files = result.run.path / "otel"
    assert_signals_match_log(records, otel_files.points(files / "metrics.jsonl"), otel_files.spans(
        files / "traces.jsonl"), otel_files.log_records(files / "logs.jsonl"))
    for attributes in otel_files.resources(files / "metrics.jsonl"):
        assert_resource(attributes, records)
    end = records[-1]
    assert isinstance(end, End) and "otel" not in end.dropped


@pytest.mark.parametrize("receiver, protocol", [(OtlpHttpReceiver, "http"), (OtlpGrpcReceiver, "grpc")])
def test_otlp_delivers_every_signal_to_a_collector(receiver, protocol):
    with receiver() as collector:
        result = train_tiny("ppo", "--metrics.exporter", "otlp", "--metrics.protocol", protocol,
                            "--metrics.endpoint", collector.url)
    records = records_of(result.run.events_file)
    assert_signals_match_log(records, collector.points(), collector.spans(), collector.log_records())
    for attributes in collector.resources():
        assert_resource(attributes, records)
    if protocol == "http":  # the base URL got each signal's own path
        assert set(collector.paths) == {"/v1/metrics", "/v1/traces", "/v1/logs"}
    assert "otel" not in records[-1].dropped
    assert not (result.run.path / "otel").exists()


def _timed(method, waited: list[float]):  # noqa: ANN001, ANN202 - any of the sink's methods
    def timed(self, *args, **kwargs):  # noqa: ANN001, ANN202
        started = time.monotonic()
        try:
            return method(self, *args, **kwargs)
        finally:
            waited.append(time.monotonic() - started)
    return timed


def test_a_collector_that_is_down_costs_the_run_nothing_but_is_counted(caplog, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    # The run waits on a collector only in the sink's flush and shutdown (export records into the SDK's
    # memory): their wall time is what a dead collector costs, whatever the neighbours make training cost.
    waited: list[float] = []
    for name in ("flush", "shutdown"):
        monkeypatch.setattr(OtelSink, name, _timed(getattr(OtelSink, name), waited))
    with caplog.at_level(logging.WARNING):
        result = train_tiny("ppo", "--metrics.exporter", "otlp", "--metrics.endpoint", dead)
    records = records_of(result.run.events_file)
    end = records[-1]
    assert isinstance(end, End) and end.status == "finished"
    assert end.dropped["otel"] > 0  # what could not be delivered is counted, not hidden
    failures = [r.getMessage() for r in caplog.records if "export to" in r.getMessage() and "failed" in r.getMessage()]
    assert 1 <= len(failures) <= 3 and dead in failures[0]  # once per signal, with the endpoint
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]  # not once per retry
    # Shutdown abandons a dead collector instead of waiting out every retry (OTLP's backoff runs to 60 s
    # and more); a healthy but slow exporter gets SHUTDOWN_TIMEOUT_S at the end, a failing one none.
    assert waited and sum(waited) < 3 * SHUTDOWN_TIMEOUT_S, waited
    assert result.run.events_file.stat().st_size > 0 and any(isinstance(r, Episode) for r in records)


def test_sampling_and_levels_filter_what_is_exported():
    result = train_tiny("ppo", "--traces.sample-rate", "0", "--logs.level", "warn", "--metrics.track-loss", "false")
    files = result.run.path / "otel"
    assert otel_files.spans(files / "traces.jsonl") == []  # the run's trace was not sampled: no span of it
    assert otel_files.log_records(files / "logs.jsonl") == []  # a finished run logs nothing at warn
    names = {point["name"] for point in otel_files.points(files / "metrics.jsonl")}
    assert "rl.loss" not in names and "rl.episode.return" in names


def test_two_runs_in_one_process_keep_their_own_resource_and_trace(tmp_path):
    logs = [train_tiny("ppo").run for _ in range(2)]
    for run in logs:
        records = records_of(run.events_file)
        files = run.path / "otel"
        assert {span["trace_id"] for span in otel_files.spans(files / "traces.jsonl")} == {records[0].trace_id}
        assert {attributes["rlops.run_id"] for attributes in otel_files.resources(files / "metrics.jsonl")} == \
            {records[0].run_id}
    assert logs[0].path != logs[1].path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_prometheus_scrapes_a_training_run(tmp_path):
    """A real Prometheus scrapes a live run's endpoint; what its query API returns is what the log says."""
    port = free_port()
    command = [sys.executable, "-m", "rlops", "train", *tiny_args(
        "ppo", "--metrics.exporter", "prometheus", "--metrics.endpoint", f"127.0.0.1:{port}",
        "--store.run-name", "scraped", steps=10_000_000)]
    with PrometheusServer(tmp_path / "prometheus", targets=[f"127.0.0.1:{port}"]) as prometheus:
        trainer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            scraped = prometheus.wait_for('rl_episode_return_bucket{le="+Inf"} > 20', timeout=120)
        finally:
            trainer.terminate()  # a stop: the run ends "stopped" and closes its endpoint
            _, stderr = trainer.communicate(timeout=60)
        assert trainer.returncode == 1 and b"stopped" in stderr, stderr.decode()[-2000:]  # stopped: exit 1
        # The endpoint is gone now (Prometheus marks the series stale): read the last scraped samples.
        count = prometheus.query('last_over_time(rl_episode_return_bucket{le="+Inf"}[5m])')
        mean = prometheus.query("last_over_time(rl_episode_return_mean[5m])")
        lengths = prometheus.query("last_over_time(rl_episode_length_sum[5m])")
    labels = scraped[0]["metric"]
    records = records_of(Path("rlruns/scraped/train_log.jsonl"))
    assert labels["rlops_run_id"] == records[0].run_id and labels["rl_algorithm"] == "ppo"
    assert labels["rl_env_id"] == "CartPole-v1" and labels["job"] == "rlops"
    assert records[-1].status == "stopped"
    # The last scrape saw the first k episodes of the log: its count, length sum and rolling mean agree.
    episodes = [r for r in records if isinstance(r, Episode)]
    k = int(float(count[0]["value"][1]))
    assert 20 < k <= len(episodes)
    assert float(lengths[0]["value"][1]) == sum(e.length for e in episodes[:k])
    recent = [e.episode_return for e in episodes[:k]][-100:]
    assert float(mean[0]["value"][1]) == pytest.approx(sum(recent) / len(recent), rel=1e-9)
    with pytest.raises(ConnectionRefusedError):  # the stopped run closed its endpoint
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_prometheus_port_in_use_leaves_the_run_going_without_otel():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = train_tiny("ppo", "--metrics.exporter", "prometheus", "--metrics.endpoint", f"127.0.0.1:{port}")
    end = records_of(result.run.events_file)[-1]
    assert isinstance(end, End) and end.status == "finished"
    assert end.dropped.get("otel", 0) == end.seq + 1  # every record, counted: the sink never started


def test_step_spans_follow_the_recorded_steps():
    result = train_tiny("ppo", "--traces.trace-steps", "true")
    records = records_of(result.run.events_file)
    steps = [r for r in records if r.type == "step"]
    assert steps  # the final evaluation records its steps (eval.record_steps)
    spans = otel_files.spans(result.run.path / "otel" / "traces.jsonl")
    (run,) = [span for span in spans if span["name"] == "rl.run"]
    step_spans = [span for span in spans if span["name"] == "rl.step"]
    assert [(s["attributes"]["rl.episode.index"], s["attributes"]["rl.step"], s["attributes"]["rl.reward"])
            for s in step_spans] == [(r.episode, r.step, r.reward) for r in steps]
    assert {span["parent_id"] for span in step_spans} == {run["span_id"]}
    without = otel_files.spans(train_tiny("ppo").run.path / "otel" / "traces.jsonl")
    assert not [span for span in without if span["name"] == "rl.step"]  # off by default: high volume


def test_the_standard_otel_variables_choose_the_collector():
    with OtlpHttpReceiver() as collector:
        environ = {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                   "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.url}/v1/traces",
                   "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
        options = resolve_options(environ=environ, args=tiny_args("ppo")).options
        result = train(prepare_options(options), progress=False)
    records = records_of(result.run.events_file)
    assert_signals_match_log(records, collector.points(), collector.spans(), collector.log_records())


def test_the_file_exporter_writes_spans_exactly_as_the_sdk_formats_them():
    import json as json_module

    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Status, StatusCode

    from rlops.sinks.otel_exporters import span_line

    tracer = TracerProvider(resource=Resource.create({"rlops.run_id": "r"})).get_tracer("t")
    root = tracer.start_span("rl.run", start_time=1_795_431_343_000_000_000)
    child = tracer.start_span("rl.episode", context=trace.set_span_in_context(root), start_time=1_795_431_343_5,
                              attributes={"rl.episode.return": 1.5, "rl.episode.length": 10, "rl.action": [0.5, 1.0]})
    child.add_event("exception", {"exception.type": "ValueError"}, timestamp=1_795_431_344_000_000_123)
    child.set_status(Status(StatusCode.ERROR, "diverged"))
    child.end(end_time=1_795_431_344_999_999_999)
    root.end(end_time=1_795_431_345_000_000_000)
    for span in (root, child):
        assert json_module.loads(span_line(span)) == json_module.loads(span.to_json(indent=None))
