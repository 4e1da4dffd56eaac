"""A Prometheus scrape endpoint for one run's metrics, with its own registry and its own server.

prometheus_client's default registry and ``start_http_server`` are process-wide; a run keeps
its own ``CollectorRegistry`` and the server handle, so two runs in one process never collide and
``close`` really frees the port. The run's id, env and algorithm are copied from the resource to
labels on every series, so several runs scraped by one Prometheus stay apart.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rlops.errors import IncompatibleChoiceError

log = logging.getLogger(__name__)
LABELLED = ("rlops.run_id", "rl.env_id", "rl.algorithm")


class PrometheusEndpoint:
    def __init__(self, host: str, port: int) -> None:
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError as exc:
            raise IncompatibleChoiceError(
                f"metrics.exporter 'prometheus' needs opentelemetry-exporter-prometheus and prometheus-client ({exc})",
                hint="pip install -c constraints.txt 'rlops[prometheus]', or choose metrics.exporter file, otlp or "
                     "console") from None
        self.registry = CollectorRegistry()
        # Bind first: a port in use fails here (OSError: the sink is reported unavailable, the run goes on).
        self.server, self.thread = start_http_server(port, addr=host, registry=self.registry)
        self.host, self.port = host, self.server.server_address[1]
        self.reader: Any = PrometheusMetricReader(registry=self.registry,
                                                  resource_attribute_filter=lambda key: key in LABELLED)
        log.info("Prometheus metrics of this run at http://%s:%d/metrics", self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self, timeout: float = 1.0) -> None:
        stopper = threading.Thread(target=self.server.shutdown, daemon=True)  # waits for serve_forever to return
        stopper.start()
        stopper.join(timeout)
        self.server.server_close()
        self.thread.join(timeout)
