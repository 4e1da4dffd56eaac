"""The Sink protocol: a sink only knows how to export a batch; the dispatcher decides when.

(OpenTelemetry's processor/exporter split.) ``export`` may raise: the dispatcher catches,
counts what was dropped and reports the sink once; training never sees the exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from rlops.events.schema import Record
from rlops.options.schema import Options


@runtime_checkable
class Sink(Protocol):
    name: str  # in the end record's ``dropped`` and in every message about the sink
    lost: int
    """Records the sink accepted but could not deliver, by its own account: what its background
    exporter (an OTLP batch processor, an upload thread) failed to send, or an unopened sink's
    records yet to come. The dispatcher counts the rest (a full queue, an export that raised); the
    run's end record adds the two. A sink that delivers within ``export`` keeps it 0."""

    def export(self, batch: Sequence[Record]) -> None:
        """Write a batch of records, in order."""

    def flush(self) -> None:
        """Make everything exported so far durable or visible."""

    def shutdown(self) -> None:
        """Flush and release resources; called once, on the sink's own thread."""


@dataclass(frozen=True)
class RunContext:
    """What a sink may know of the run it records, given once at construction."""

    run_id: str
    run_dir: Path  # where the run's files live: checkpoints are ``run_dir / record.path``
    log_path: Path  # the JSONL log
    options: Options
    trace_id: str  # the run's OpenTelemetry trace id (the envelope's default trace_id)
