"""S06 for OTLP over HTTP: an allowed collector that answers with a redirect does not get the run's
telemetry sent where it points. The SDK's HTTP transport does not follow redirects (requests with
``allow_redirects=False``); this holds it to that, so an SDK upgrade that changes it fails here.

(The SDK takes the 3xx answer for a delivered batch, since requests calls any status below 400
"ok": the batch is lost without a count. That is the otel sink's to report, not a reach problem.)
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from rlops.options import resolve_options
from rlops.sinks.otel_exporters import otlp_exporter
from tests.sinks.test_mlflow_redirects import Listener, redirecting_server


@pytest.mark.parametrize("status", [302, 307, 308])
def test_an_otlp_collector_that_redirects_sends_nothing_where_it_points(status):
    forbidden = Listener()
    server = redirecting_server(status, f"http://127.0.0.2:{forbidden.port}", ("/v1/",))
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    options = resolve_options(environ={}, args=["--metrics.protocol", "http", "--traces.endpoint", endpoint]).options
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(otlp_exporter(options, "traces")))
    try:
        provider.get_tracer("test").start_span("episode").end()  # exported at once, on this thread
    finally:
        provider.shutdown()
        server.shutdown()
        server.server_close()
        forbidden.close()
    assert server.requests == ["/v1/traces"]  # the collector was asked
    assert forbidden.connections == 0  # and where it pointed was not
