"""The Sink protocol: a sink only knows how to export a batch; the dispatcher decides when.

(OpenTelemetry's processor/exporter split.) ``export`` may raise: the dispatcher catches,
counts what was dropped and reports the sink once; training never sees the exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rlops.events.schema import Record


@runtime_checkable
class Sink(Protocol):
    name: str

    def export(self, batch: Sequence[Record]) -> None:
        """Write a batch of records, in order."""

    def flush(self) -> None:
        """Make everything exported so far durable or visible."""

    def shutdown(self) -> None:
        """Flush and release resources; called once."""
