"""The OpenTelemetry sink: a run's records as OTel metrics, traces and logs.

Each sink owns its providers (never the global ones), so two runs in one process export under
their own resource (``service.name``, ``rlops.run_id``, ``rl.env_id``, ``rl.algorithm``) and
shut down independently. ``export`` only records into the SDK (a gauge set, a span ended, a log
emitted: memory operations); the SDK's batch processors and periodic metric reader send on
their own threads. Every exporter is wrapped to count what it fails to deliver (``lost``, which
the run's end record adds to ``dropped.otel``), and ``shutdown`` is bounded: an exporter that is
failing is abandoned at once, any other gets ``SHUTDOWN_TIMEOUT_S``.

How records map onto signals: ``otel_metrics``, ``otel_traces``, ``otel_logs``; where they go:
``otel_exporters`` (file, otlp, console) and ``otel_prometheus``. docs/telemetry.md has the names.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from rlops import __version__
from rlops.events.schema import Record
from rlops.options.schema import Options
from rlops.sinks.base import RunContext
from rlops.sinks.otel_delivery import (
    CountingLogExporter,
    CountingMetricExporter,
    CountingSpanExporter,
    Delivery,
)
from rlops.sinks.otel_exporters import (
    describe,
    exporter_kind,
    log_exporter,
    metric_exporter,
    prometheus_address,
    span_exporter,
)
from rlops.sinks.otel_logs import RunLogs
from rlops.sinks.otel_metrics import RunMetrics, return_view
from rlops.sinks.otel_traces import RunIdGenerator, RunTraces, as_span

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 3.0  # the most a healthy but slow exporter gets to send what is left at the end
MAX_BATCH_DELAY_S = 5.0  # spans and logs leave at least this often (sooner with a shorter export_interval)
QUEUE_SIZE = 8192  # spans (log records) a batch processor holds; what overflows it is dropped
DRAIN_EVERY = QUEUE_SIZE // 2  # records between drains of the processors (export)


class OtelSink:
    name = "otel"

    def __init__(self, options: Options, run_dir: Path, run_id: str, trace_id: str) -> None:
        self.options = options
        self.files = Path(run_dir) / "otel"  # where the file exporter writes <signal>.jsonl
        self.trace_id = trace_id
        self.deliveries: dict[str, Delivery] = {}
        self.metrics: RunMetrics | None = None
        self.traces: RunTraces | None = None
        self.logs: RunLogs | None = None
        self.prometheus: Any = None  # the PrometheusEndpoint, with metrics.exporter = "prometheus"
        self._providers: list[tuple[str, Any]] = []
        self._exporters: list[Any] = []
        self._outs: list[IO[str]] = []
        self._undelivered = 0
        self._handed = 0  # records handed since the processors were last drained
        resource = run_resource(options, run_id)
        try:
            if options.metrics.enable:
                self.metrics = self._start_metrics(resource)
            if options.traces.enable:
                self.traces = self._start_traces(resource)
            if options.logs.enable:
                self.logs = self._start_logs(resource)
        except BaseException:
            self._stop(timeout=0.5)
            raise
        self._fallback = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            int(trace_id, 16), int(trace_id[:16], 16) or 1, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))))

    @classmethod
    def for_run(cls, context: RunContext) -> OtelSink:
        return cls(context.options, context.run_dir, context.run_id, context.trace_id)

    @property
    def lost(self) -> int:
        """Items the exporters failed to deliver (and, after shutdown, those never handed to them)."""
        return sum(delivery.lost for delivery in self.deliveries.values()) + self._undelivered

    def export(self, batch: Sequence[Record]) -> None:
        self._handed += len(batch)
        if self._handed >= DRAIN_EVERY:  # before the batch processors' queues could overflow
            self._handed = len(batch)
            self._drain()
        for record in batch:
            if self.metrics is not None:
                self.metrics.record(record)
            span = self.traces.record(record) if self.traces is not None else None
            if self.logs is not None:
                # The context is made only for a record that logs (an episode does not).
                self.logs.record(record, lambda span=span: self._log_context(span))
        if self.metrics is not None:
            self.metrics.end_batch()

    def _drain(self) -> None:
        """Wait, on this sink's thread, until the span and log processors have exported what they
        hold. Their queues drop what overflows ("Queue full, dropping Span"): 10,000 episodes
        handed at once, as a vector run at 16,384 envs finishes them, lost a fifth of their spans
        to the SDK's default queue of 2,048. One record makes at most one span and one log record,
        so a drain every ``DRAIN_EVERY`` records keeps each queue under ``QUEUE_SIZE``."""
        for signal, provider in self._providers:
            if signal != "metrics" and not (signal in self.deliveries and self.deliveries[signal].failing):
                _force_flush(provider, SHUTDOWN_TIMEOUT_S)

    def flush(self) -> None:
        """Push what is buffered now, every signal at once, within ``SHUTDOWN_TIMEOUT_S``; a signal
        whose exporter is already failing is skipped (it would only wait out its timeout again)."""
        flushers = [threading.Thread(target=_force_flush, args=(provider, SHUTDOWN_TIMEOUT_S), daemon=True,
                                     name=f"rlops-otel-flush-{signal}")
                    for signal, provider in self._providers
                    if signal not in self.deliveries or not self.deliveries[signal].failing]
        for flusher in flushers:
            flusher.start()
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
        for flusher in flushers:
            flusher.join(max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        if self.traces is not None:
            self.traces.close()
        self._stop(SHUTDOWN_TIMEOUT_S)
        self._undelivered = self._count_undelivered()
        if self.lost:
            log.warning("otel: %d items were not delivered (%s)", self.lost, "; ".join(
                f"{signal} to {delivery.target}: {delivery.lost}" for signal, delivery in self.deliveries.items()))

    # -- setup, one signal at a time

    def _start_metrics(self, resource: Resource) -> RunMetrics:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        options = self.options.metrics
        if options.exporter == "prometheus":
            from rlops.sinks.otel_prometheus import PrometheusEndpoint

            self.prometheus = PrometheusEndpoint(*prometheus_address(self.options))
            reader = self.prometheus.reader
        else:
            delivery = self._delivery("metrics")
            exporter = CountingMetricExporter(metric_exporter(self.options, self._out("metrics"), delivery.refused),
                                              delivery)
            self._exporters.append(exporter)
            reader = PeriodicExportingMetricReader(exporter, export_interval_millis=options.export_interval * 1000,
                                                   export_timeout_millis=SHUTDOWN_TIMEOUT_S * 1000)
        provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False,
                                 views=[return_view()])
        self._providers.append(("metrics", provider))
        return RunMetrics(provider.get_meter("rlops", __version__), options)

    def _start_traces(self, resource: Resource) -> RunTraces:
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        options = self.options.traces
        ids, limits = RunIdGenerator(int(self.trace_id, 16)), SpanLimits()
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(options.sample_rate)), resource=resource,
                                  shutdown_on_exit=False, id_generator=ids, span_limits=limits)
        self._providers.append(("traces", provider))
        delivery = self._delivery("traces")
        exporter = CountingSpanExporter(span_exporter(self.options, self._out("traces"), delivery.refused), delivery)
        self._exporters.append(exporter)
        processor = BatchSpanProcessor(exporter, schedule_delay_millis=self._batch_delay_ms(), max_queue_size=QUEUE_SIZE)
        provider.add_span_processor(processor)
        attributes = {key: str(value) for key, value in resource.attributes.items() if key.startswith("rl")}
        return RunTraces(provider.get_tracer("rlops", __version__), options, attributes,
                         seed=int(self.trace_id[:16], 16), processor=processor, ids=ids, limits=limits)

    def _start_logs(self, resource: Resource) -> RunLogs:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self._providers.append(("logs", provider))
        delivery = self._delivery("logs")
        exporter = CountingLogExporter(log_exporter(self.options, self._out("logs"), delivery.refused), delivery)
        self._exporters.append(exporter)
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=self._batch_delay_ms(),
                                                                  max_queue_size=QUEUE_SIZE))
        return RunLogs(provider.get_logger("rlops", __version__), self.options.logs)

    def _delivery(self, signal: str) -> Delivery:
        self.deliveries[signal] = Delivery(signal, describe(self.options, signal, self.files))
        return self.deliveries[signal]

    def _out(self, signal: str) -> IO[str] | None:
        """The JSON-lines file of a signal under the file exporter; None means the console or the network."""
        if exporter_kind(self.options, signal) != "file":
            return None
        self.files.mkdir(parents=True, exist_ok=True)
        out = open(self.files / f"{signal}.jsonl", "a", encoding="utf-8")
        self._outs.append(out)
        return out

    def _batch_delay_ms(self) -> float:
        return min(self.options.metrics.export_interval, MAX_BATCH_DELAY_S) * 1000

    # -- running

    def _log_context(self, span: Any) -> Any:
        if span is not None:
            return trace.set_span_in_context(as_span(span))
        if self.traces is not None and self.traces.context is not None:
            return self.traces.context
        return self._fallback

    def _stop(self, timeout: float) -> None:
        """Shut every provider down in parallel, within ``timeout``; abandon what is still sending then."""
        for delivery in self.deliveries.values():
            delivery.closing = True
            if delivery.failing:
                delivery.abandon()  # a collector that is down now will not be up in the next second
        stoppers = [threading.Thread(target=_shutdown, args=(provider, timeout), name=f"rlops-otel-stop-{signal}",
                                     daemon=True) for signal, provider in self._providers]
        for stopper in stoppers:
            stopper.start()
        deadline = time.monotonic() + timeout
        for stopper in stoppers:
            stopper.join(max(0.0, deadline - time.monotonic()))
        if any(stopper.is_alive() for stopper in stoppers):
            for delivery in self.deliveries.values():
                delivery.abandon()
            for exporter in self._exporters:  # interrupts an exporter waiting to retry
                _quietly(exporter.inner.shutdown)
            for stopper in stoppers:
                stopper.join(0.5)
        if self.prometheus is not None:
            self.prometheus.close()
        if not any(stopper.is_alive() for stopper in stoppers):
            for out in self._outs:
                out.close()

    def _count_undelivered(self) -> int:
        """Spans and logs handed to a batch processor that never reached its exporter (a full queue, the deadline)."""
        handed = {"traces": self.traces.ended if self.traces else 0, "logs": self.logs.emitted if self.logs else 0}
        return sum(max(0, handed[signal] - delivery.delivered - delivery.lost)
                   for signal, delivery in self.deliveries.items() if signal in handed)


def run_resource(options: Options, run_id: str) -> Resource:
    attributes = {"rlops.run_id": run_id, "rl.env_id": options.env.env_id, "rl.algorithm": options.agent.algorithm,
                  "service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME"):  # the standard variable names the service, when set
        attributes["service.name"] = "rlops"
    return Resource.create(attributes)


def _shutdown(provider: Any, timeout: float) -> None:
    try:
        if "timeout_millis" in provider.shutdown.__code__.co_varnames:
            provider.shutdown(timeout_millis=timeout * 1000)
        else:
            provider.shutdown()
    except Exception as exc:  # a provider that fails to stop must not keep the others from stopping
        log.warning("otel: %s did not shut down cleanly: %s", type(provider).__name__, exc)


def _force_flush(provider: Any, timeout: float) -> None:
    try:
        provider.force_flush(timeout_millis=int(timeout * 1000))
    except Exception as exc:  # a flush that fails is the delivery's to count, not the run's to crash on
        log.warning("otel: %s did not flush: %s", type(provider).__name__, exc)


def _quietly(action: Any) -> None:
    try:
        action()
    except Exception:  # already shut down, or failing to: the point was only to wake it
        pass
