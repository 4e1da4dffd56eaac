"""What each OpenTelemetry exporter failed to deliver: counted, reported once, and cut short at the end.

The SDK's batch processors and the metric reader call their exporter on their own threads and
swallow failures (an OTLP exporter just returns FAILURE), so the sink wraps every exporter in a
``Delivery``-counting shell: items in a failed batch are added to ``lost`` (the run's ``end``
record adds it to ``dropped.otel``), the first failure is logged once with the endpoint, and a
recovery is logged too. At shutdown an exporter that is failing, or that outlives the deadline, is
*abandoned*: its remaining batches are counted as lost at once instead of each waiting out a
timeout against a collector that is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)


class Delivery:
    """The delivery account of one signal: items delivered and lost, and whether it is failing now."""

    def __init__(self, signal: str, target: str) -> None:
        self.signal = signal  # metrics | traces | logs
        self.target = target  # where it goes, for the one warning: a URL, a file
        self.delivered = 0
        self.lost = 0
        self.failing = False
        self.closing = False  # set at shutdown: from then on a failure abandons the rest
        self.abandoned = False
        self._refusal: str | None = None  # why the batch being sent fails, when the exporter's session knows
        self._lock = threading.Lock()

    def send(self, count: int, call: Callable[[], Any], success: Any) -> bool:
        """Run one export of ``count`` items; count the outcome. Never raises."""
        if self.abandoned:
            self._count(count, ok=False, why="abandoned at shutdown")
            return False
        self._refusal = None
        try:
            ok = call() == success
            why = self._refusal or "the exporter reported failure"
        except Exception as exc:  # an exporter that raises is a failed batch, not a crash
            ok, why = False, f"{type(exc).__name__}: {exc}"
        self._count(count, ok, why)
        return ok

    def abandon(self) -> None:
        self.abandoned = True

    def refused(self, why: str) -> None:
        """Called by the exporter's session, on the exporting thread, when it fails an answer the SDK
        would take for a delivery (a redirect: ``otlp_redirects``): the warning then says why."""
        self._refusal = why

    def _count(self, count: int, ok: bool, why: str) -> None:
        with self._lock:
            if ok:
                self.delivered += count
                recovered, self.failing = self.failing, False
            else:
                self.lost += count
                first, self.failing = not self.failing, True
                if self.closing:
                    self.abandoned = True
        if ok and recovered:
            log.warning("otel %s export to %s recovered", self.signal, self.target)
        elif not ok and first and not self.abandoned:
            log.warning("otel %s export to %s failed (%s); what it cannot deliver is counted in the end record's "
                        "dropped.otel, and the JSONL log stays complete", self.signal, self.target, why)


class CountingSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, delivery: Delivery) -> None:
        self.inner, self.delivery = inner, delivery

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        ok = self.delivery.send(len(spans), lambda: self.inner.export(spans), SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, delivery: Delivery) -> None:
        self.inner, self.delivery = inner, delivery

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        ok = self.delivery.send(len(batch), lambda: self.inner.export(batch), LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingMetricExporter(MetricExporter):
    """Counts data points: a metric export is one snapshot of every instrument, not a list of items."""

    def __init__(self, inner: MetricExporter, delivery: Delivery) -> None:
        super().__init__(preferred_temporality=inner._preferred_temporality,
                         preferred_aggregation=inner._preferred_aggregation)
        self.inner, self.delivery = inner, delivery

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        ok = self.delivery.send(data_points(metrics_data),
                                lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs),
                                MetricExportResult.SUCCESS)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis=timeout_millis)


def data_points(metrics_data: MetricsData) -> int:
    return sum(len(metric.data.data_points) for resource in metrics_data.resource_metrics
               for scope in resource.scope_metrics for metric in scope.metrics)
