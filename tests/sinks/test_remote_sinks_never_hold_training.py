"""A remote sink whose server hangs or refuses never holds training (issue 18, item 4).

Each backend is pointed at a socket that accepts and never answers, and at a refused port. The
run's first record must come as soon as without the backend (the backend opens on its own
thread), and the run's end may wait for it no longer than its documented bound
(docs/telemetry.md, "Remote sinks never hold training"), plus an allowance for importing the
backend's library on a loaded machine. Before the fix, MLflow held the first record for 20
minutes, S3 and W&B for 90 s.
"""

from __future__ import annotations

import logging
import os
import time

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import End
from rlops.sinks import mlflow as mlflow_sink
from rlops.sinks import s3_objects
from rlops.sinks import wandb as wandb_sink
from rlops.sinks.otel_exporters import OTLP_TIMEOUT_S
from rlops.sinks.recorder import FINISH_FLOOR_S
from tests.helpers import train_tiny
from tests.sinks.hanging_server import HangingServer, refused_port

# The training thread builds the recorder and the session between options.json and the meta
# record: a few milliseconds, a second at worst on a loaded machine; opening a backend there took
# from 3 s (MLflow's import) to 20 minutes.
FIRST_RECORD_S = 2.0
IMPORT_ALLOWANCE_S = 20.0  # importing mlflow or wandb on the sink's thread, at load ~8 on 2 cores

BACKENDS = {  # name: (its sink in the end record, options, how long its opening may wait on a server)
    "mlflow": ("mlflow", lambda url: ["--store.backend", "mlflow", "--store.tracking-uri", url],
               mlflow_sink.CONNECT_TIMEOUT_S),
    "s3": ("s3", lambda url: ["--store.backend", "s3", "--store.s3-uri", "s3://bucket/runs",
                              "--store.endpoint-url", url],
           s3_objects.CONNECT_TIMEOUT_S + s3_objects.PROBE_READ_TIMEOUT_S),
    "wandb-online": ("wandb", lambda url: ["--store.backend", "wandb", "--store.wandb-mode", "online"],
                     wandb_sink.INIT_TIMEOUT_S),
    "otlp-http": ("otel", lambda url: ["--metrics.exporter", "otlp", "--metrics.endpoint", url], OTLP_TIMEOUT_S * 3),
    "otlp-grpc": ("otel", lambda url: ["--metrics.exporter", "otlp", "--metrics.protocol", "grpc",
                                       "--metrics.endpoint", url], OTLP_TIMEOUT_S * 3),
}


@pytest.fixture(params=["hanging", "refused"])
def server_url(request):
    if request.param == "refused":
        yield f"http://127.0.0.1:{refused_port()}"
        return
    with HangingServer() as server:
        yield server.url
        assert server.accepted >= 1  # the client did get through the connect, then waited


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_server_that_hangs_or_refuses_never_holds_training(backend, server_url, monkeypatch, caplog):
    sink, options, bound = BACKENDS[backend]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("WANDB_BASE_URL", server_url)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    for name in mlflow_sink.HTTP_LIMITS:  # the sink's defaults, not what an earlier test left
        monkeypatch.delenv(name, raising=False)
    if backend == "wandb-online":
        import wandb

        wandb.teardown()  # W&B keeps its settings (the base URL) from its first run in this process
    started = time.monotonic()
    result = train_tiny("ppo", *options(server_url), steps=128)
    elapsed = time.monotonic() - started
    records = [record for _, record in read_records(result.run.events_file)]
    first, before_end, end = records[0], records[-2], records[-1]
    assert first.t - os.path.getmtime(result.run.options_file) < FIRST_RECORD_S
    assert isinstance(end, End) and end.status == "finished"
    # The end waits for the backend at most its bound (and its import), never for its client's retries.
    assert end.t - before_end.t < bound + FINISH_FLOOR_S + IMPORT_ALLOWANCE_S, (end.t - before_end.t, elapsed)
    assert end.dropped.get(sink, 0) > 0  # what it could not take is counted
    if sink != "otel":  # the others cannot open: every record, the end included, is dropped, and said once
        assert end.dropped[sink] == end.seq + 1
        reports = [r.getMessage() for r in caplog.records if f"sink {sink} is unavailable" in r.getMessage()]
        assert len(reports) == 1, reports
    assert (result.run.checkpoints / result.checkpoint.path.name / "manifest.json").is_file()


def test_a_hanging_mlflow_server_is_named_for_what_it_does(caplog):
    """Not "cannot be reached": it can, it just never answers, and the user should know which."""
    with HangingServer() as server, caplog.at_level(logging.WARNING):
        started = time.monotonic()
        with pytest.raises(Exception, match="accepts connections but did not answer within 3 s"):
            mlflow_sink.check_reachable(server.url)
        assert time.monotonic() - started < mlflow_sink.CONNECT_TIMEOUT_S + 1.0
