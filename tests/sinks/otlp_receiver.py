"""Real OTLP receivers for the tests, on loopback: HTTP (http.server) and gRPC (grpcio).

Both decode what arrives with opentelemetry-proto's own messages (what a collector does) and
keep the decoded requests; ``points``, ``spans`` and ``log_records`` flatten them into plain
dicts that the tests compare with the run's JSONL log.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as logs_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

MESSAGES = {  # signal: (request, response)
    "metrics": (metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse),
    "traces": (trace_pb.ExportTraceServiceRequest, trace_pb.ExportTraceServiceResponse),
    "logs": (logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse),
}


class Received:
    """The decoded requests of each signal, appended from the server's threads."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {signal: [] for signal in MESSAGES}
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def add(self, signal: str, request: Any, path: str = "") -> None:
        with self._lock:
            self.requests[signal].append(request)
            self.paths.append(path)

    def points(self) -> list[dict[str, Any]]:
        return points(self.requests["metrics"])

    def spans(self) -> list[dict[str, Any]]:
        return spans(self.requests["traces"])

    def log_records(self) -> list[dict[str, Any]]:
        return log_records(self.requests["logs"])

    def resources(self) -> list[dict[str, Any]]:
        return [attributes(item.resource.attributes) for signal, field in
                (("metrics", "resource_metrics"), ("traces", "resource_spans"), ("logs", "resource_logs"))
                for request in self.requests[signal] for item in getattr(request, field)]


class OtlpHttpReceiver(Received):
    """POST /v1/metrics, /v1/traces, /v1/logs with protobuf bodies, as the OTLP/HTTP spec has them."""

    def __enter__(self) -> OtlpHttpReceiver:
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                signal = self.path.rstrip("/").rsplit("/", 1)[-1]
                if signal not in MESSAGES or not self.path.endswith(f"/v1/{signal}"):
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                body = gzip.decompress(body) if encoding == "gzip" else zlib.decompress(body) if encoding == "deflate" \
                    else body
                request_type, response_type = MESSAGES[signal]
                received.add(signal, request_type.FromString(body), self.path)
                payload = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass  # quiet: the tests read what arrived, not the access log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class OtlpGrpcReceiver(Received):
    """The three OTLP collector services of opentelemetry-proto on a grpcio server."""

    def __enter__(self) -> OtlpGrpcReceiver:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        for signal, base, add in (
                ("metrics", metrics_grpc.MetricsServiceServicer, metrics_grpc.add_MetricsServiceServicer_to_server),
                ("traces", trace_grpc.TraceServiceServicer, trace_grpc.add_TraceServiceServicer_to_server),
                ("logs", logs_grpc.LogsServiceServicer, logs_grpc.add_LogsServiceServicer_to_server)):
            add(type(f"{signal.title()}Servicer", (base,), {"Export": self._export(signal)})(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self

    def _export(self, signal: str) -> Any:
        received = self

        def export(_servicer: Any, request: Any, _context: Any) -> Any:
            received.add(signal, request)
            return MESSAGES[signal][1]()

        return export

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.server.stop(grace=None).wait(5)


def value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: value(pair.value) for pair in pairs}


def points(requests: list[Any]) -> list[dict[str, Any]]:
    """Every data point: name, attributes, and value (gauge) or sum and count (histogram), in arrival order."""
    found = []
    for request in requests:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points:
                        item = {"name": metric.name, "attributes": attributes(point.attributes)}
                        if kind == "histogram":
                            item.update(sum=point.sum, count=point.count)
                        else:
                            item["value"] = point.as_double if point.WhichOneof("value") == "as_double" \
                                else point.as_int
                        found.append(item)
    return found


def spans(requests: list[Any]) -> list[dict[str, Any]]:
    return [{"name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
             "parent_id": span.parent_span_id.hex(), "attributes": attributes(span.attributes),
             "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano, "status": span.status.code}
            for request in requests for resource in request.resource_spans for scope in resource.scope_spans
            for span in scope.spans]


def log_records(requests: list[Any]) -> list[dict[str, Any]]:
    return [{"body": value(record.body), "severity": record.severity_text, "attributes": attributes(record.attributes),
             "trace_id": record.trace_id.hex(), "span_id": record.span_id.hex()}
            for request in requests for resource in request.resource_logs for scope in resource.scope_logs
            for record in scope.log_records]
