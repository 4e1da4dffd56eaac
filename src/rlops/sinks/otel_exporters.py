"""Where each OpenTelemetry signal goes: JSON-lines files, OTLP over HTTP or gRPC, or the console.

``metrics.exporter`` picks the kind for all three signals (a Prometheus scrape endpoint is for
metrics only, so with ``prometheus`` the traces and logs go to files). OTLP endpoints follow the
OpenTelemetry convention: ``traces.endpoint`` and ``logs.endpoint`` fall back to
``metrics.endpoint``; over HTTP a base URL gets ``/v1/<signal>`` appended (an endpoint that
already ends in ``/v1/metrics``, ``/v1/traces`` or ``/v1/logs`` has that path swapped for the
signal's own). Network exporters get a short timeout, so a collector that is down costs each
batch about a second on the exporter's own thread, never the training loop.

Network exporters are imported only when chosen: the default file export needs nothing but the SDK.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import orjson

from rlops.options.schema import Options

OTLP_TIMEOUT_S = 2.0  # per export request, retries included: bounds how long a dead collector holds a batch
SIGNALS = ("metrics", "traces", "logs")
DEFAULT_OTLP = {"http": "http://localhost:4318", "grpc": "http://localhost:4317"}
DEFAULT_PROMETHEUS = ("127.0.0.1", 9464)


def quiet_otlp_retries() -> None:
    """The SDK's OTLP exporters log every retry and every failed batch (several lines per export
    interval while a collector is down); the sink's ``Delivery`` reports each signal's failure once,
    with its endpoint, and counts the loss, so the SDK's own lines are kept to CRITICAL."""
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.CRITICAL)


def exporter_kind(options: Options, signal: str) -> str:
    kind = options.metrics.exporter
    return "file" if kind == "prometheus" and signal != "metrics" else kind


def otlp_endpoint(options: Options, signal: str) -> str:
    """The URL (HTTP) or address (gRPC) a signal is sent to."""
    protocol = options.metrics.protocol
    endpoint = getattr(options, signal).endpoint or options.metrics.endpoint or DEFAULT_OTLP[protocol]
    if "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    if protocol == "grpc":
        return endpoint
    base = endpoint.rstrip("/")
    for known in SIGNALS:
        base = base.removesuffix(f"/v1/{known}")
    return f"{base}/v1/{signal}"


def prometheus_address(options: Options) -> tuple[str, int]:
    """``metrics.endpoint`` read as the host:port to serve /metrics on (127.0.0.1:9464 when unset)."""
    endpoint = options.metrics.endpoint
    if not endpoint:
        return DEFAULT_PROMETHEUS
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.hostname or DEFAULT_PROMETHEUS[0], parts.port if parts.port is not None else DEFAULT_PROMETHEUS[1]


def describe(options: Options, signal: str, files: Path) -> str:
    """Where a signal goes, in words, for warnings and logs."""
    kind = exporter_kind(options, signal)
    if kind == "file":
        return str(files / f"{signal}.jsonl")
    if kind == "otlp":
        return f"{otlp_endpoint(options, signal)} (OTLP/{options.metrics.protocol.upper()})"
    if kind == "prometheus":
        host, port = prometheus_address(options)
        return f"http://{host}:{port}/metrics"
    return "the console"


def one_line(item: Any) -> str:
    return item.to_json(indent=None) + "\n"


_RESOURCES: dict[int, tuple[Any, dict, Any]] = {}  # id -> (resource, its JSON, encoded): one per run, made once
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_KINDS: dict[Any, str] = {}  # SpanKind -> its str(), as to_json writes it
_STATE: list[tuple[Any, str]] = [(None, "")]  # the last trace state seen and its repr (a run's spans share one)
_SECONDS: dict[int, str] = {}  # whole UTC seconds -> "YYYY-MM-DDTHH:MM:SS", a few per batch


def span_line(span: Any) -> str:
    """A span as the SDK's ``to_json`` writes it, on one line, at a fraction of the cost: the
    resource, the same for every span of a run, is encoded once, the timestamps are formatted as
    the SDK's ``ns_to_iso_str`` does from a per-second cache, and orjson encodes the rest (the
    standard library for what orjson refuses, e.g. an integer beyond 64 bits)."""
    resource = _RESOURCES.get(id(span.resource))
    if resource is None or resource[0] is not span.resource:
        form = json.loads(span.resource.to_json())
        resource = _RESOURCES[id(span.resource)] = (span.resource, form, orjson.Fragment(orjson.dumps(form)))
    context, parent = span.context, span.parent
    status = {"status_code": span.status.status_code.name}
    if span.status.description:
        status["description"] = span.status.description
    state = _STATE[0]  # one read: another run's exporter thread may swap it meanwhile
    if state[0] is not context.trace_state:
        state = _STATE[0] = (context.trace_state, repr(context.trace_state))
    kind = _KINDS.get(span.kind)
    if kind is None:
        kind = _KINDS[span.kind] = str(span.kind)
    line = {
        "name": span.name,
        "context": {"trace_id": f"0x{context.trace_id:032x}", "span_id": f"0x{context.span_id:016x}",
                    "trace_state": state[1]},
        "kind": kind,
        "parent_id": f"0x{parent.span_id:016x}" if parent is not None else None,
        "start_time": iso_time(span.start_time), "end_time": iso_time(span.end_time),
        "status": status,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "timestamp": iso_time(e.timestamp), "attributes": dict(e.attributes or {})}
                   for e in span.events],
        "links": [],
        "resource": resource[2],
    }
    try:
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE).decode()
    except TypeError:  # orjson.JSONEncodeError: what orjson does not encode, the standard library may
        return _ENCODE(line | {"resource": resource[1]}) + "\n"


def iso_time(ns: int | None) -> str | None:
    """``opentelemetry.sdk.util.ns_to_iso_str``, exactly: ``datetime.fromtimestamp(ns / 1e9)`` rounds
    the fraction to microseconds half to even, as ``round`` does, after splitting off whole seconds."""
    if not ns:
        return None
    fraction, whole = math.modf(ns / 1e9)
    micros = round(fraction * 1e6)
    if micros >= 1_000_000:
        micros -= 1_000_000
        whole += 1.0
    seconds = _SECONDS.get(int(whole))
    if seconds is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        seconds = _SECONDS[int(whole)] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(whole)))
    return f"{seconds}.{micros:06d}Z"


# The SDK's OTLP exporter of each signal; ``{}`` is the transport (metrics.protocol: grpc or http).
OTLP_EXPORTERS = {
    "traces": ("opentelemetry.exporter.otlp.proto.{}.trace_exporter", "OTLPSpanExporter"),
    "logs": ("opentelemetry.exporter.otlp.proto.{}._log_exporter", "OTLPLogExporter"),
    "metrics": ("opentelemetry.exporter.otlp.proto.{}.metric_exporter", "OTLPMetricExporter"),
}


def otlp_exporter(options: Options, signal: str, refused: Callable[[str], None] | None = None) -> Any:
    """The OTLP exporter of a signal, imported only now: the default file export needs none.

    Over HTTP its session fails a redirect (any answer outside 2xx the SDK takes for success,
    ``otlp_redirects``), telling ``refused`` why, so the batch is counted lost, not taken as sent."""
    quiet_otlp_retries()
    module, name = OTLP_EXPORTERS[signal]
    exporter = getattr(importlib.import_module(module.format(options.metrics.protocol)), name)
    endpoint = otlp_endpoint(options, signal)
    if options.metrics.protocol != "http":
        return exporter(endpoint=endpoint, timeout=OTLP_TIMEOUT_S)
    from rlops.sinks.otlp_redirects import guarded_session

    session = guarded_session(signal, endpoint, refused or (lambda why: None))
    return exporter(endpoint=endpoint, timeout=OTLP_TIMEOUT_S, session=session)


def span_exporter(options: Options, out: IO[str] | None, refused: Callable[[str], None] | None = None) -> Any:
    if exporter_kind(options, "traces") == "otlp":
        return otlp_exporter(options, "traces", refused)
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter(out=out or sys.stdout, formatter=span_line if out else _pretty)


def log_exporter(options: Options, out: IO[str] | None, refused: Callable[[str], None] | None = None) -> Any:
    if exporter_kind(options, "logs") == "otlp":
        return otlp_exporter(options, "logs", refused)
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter

    return ConsoleLogRecordExporter(out=out or sys.stdout, formatter=one_line if out else _pretty)


def metric_exporter(options: Options, out: IO[str] | None, refused: Callable[[str], None] | None = None) -> Any:
    """The push exporter for metrics (file, otlp, console); Prometheus is a pull reader instead."""
    if options.metrics.exporter == "otlp":
        return otlp_exporter(options, "metrics", refused)
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    return ConsoleMetricExporter(out=out or sys.stdout, formatter=one_line if out else _pretty)


def _pretty(item: Any) -> str:
    return item.to_json(indent=2) + "\n"
