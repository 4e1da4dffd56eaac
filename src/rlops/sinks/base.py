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
    name: str

    def export(self, batch: Sequence[Record]) -> None:
        """Write a batch of records, in order."""

    def flush(self) -> None:
        """Make everything exported so far durable or visible."""

    def shutdown(self) -> None:
        """Flush and release resources; called once, on the sink's own thread."""

    # Optional: ``lost: int``, items the sink's own background exporter (an OTLP batch processor,
    # an upload thread) failed to deliver; the run's end record adds it to the sink's drop count.


@dataclass(frozen=True)
class RunContext:
    """What a sink may know of the run it records, given once at construction."""

    run_id: str
    run_dir: Path  # where the run's files live: checkpoints are ``run_dir / record.path``
    log_path: Path  # the JSONL log
    options: Options
    trace_id: str  # the run's OpenTelemetry trace id (the envelope's default trace_id)
