"""S06 for the S3 backend: an allowed S3-compatible endpoint that answers with a redirect does not
get the run's objects (or its signed requests) sent where it points. botocore does not follow a
Location (urllib3 with ``Retry(False)``); its region redirector re-sends only to AWS's endpoint of
a region it is told. With no region to go by it asks the endpoint again and again until Python's
recursion limit: the sink reports that as the redirect it is."""

from __future__ import annotations

import pytest

from rlops.errors import BackendError
from rlops.options import resolve_options
from rlops.sinks.base import RunContext
from rlops.sinks.recorder import new_trace_id
from rlops.sinks.s3 import S3Sink
from rlops.sinks.s3_objects import client_at
from rlops.store.run_dir import create_run_directory
from tests.sinks.test_mlflow_redirects import Listener, redirecting_server


@pytest.fixture(autouse=True)
def _credentials(monkeypatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.parametrize("status", [301, 302, 307])
def test_an_s3_endpoint_that_redirects_is_refused_and_sends_nothing_where_it_points(status, tmp_path):
    forbidden = Listener()
    server = redirecting_server(status, f"http://127.0.0.2:{forbidden.port}", ("/bucket",))
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    options = resolve_options(environ={}, args=["--store.backend", "s3", "--store.s3-uri", "s3://bucket/runs",
                                                "--store.endpoint-url", endpoint, "--store.run-name", "r",
                                                "--store.model-dir", str(tmp_path / "rlruns")]).options
    run = create_run_directory(options.store.model_dir, "r")
    try:
        with pytest.raises(BackendError) as refused:
            S3Sink.for_run(RunContext("r", run.path, run.events_file, options, new_trace_id()))
        with pytest.raises(Exception):  # noqa: B017 - whatever botocore makes of it, it goes nowhere else
            client_at(endpoint).put_object(Bucket="bucket", Key="runs/r/options.json", Body=b"{}")
    finally:
        server.shutdown()
        server.server_close()
        forbidden.close()
    assert f"S3 endpoint {endpoint} answers bucket 'bucket' with redirects" in str(refused.value)
    assert "rlops does not follow" in str(refused.value)
    assert server.requests[:1] == ["/bucket"]  # the endpoint was asked
    assert forbidden.connections == 0  # and where it pointed was not
