"""The memory sink: every record a run hands it, kept in a list, in order (OpenTelemetry's
``InMemorySpanExporter``). For tests and notebooks: what a run told its sinks, without a file or
a server. It is not in the registry: a caller passes it to ``RunRecorder`` (or the tests'
``memory_sink`` fixture adds it to every run's sinks).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rlops.events.schema import Record


class MemorySink:
    name = "memory"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._lock = threading.Lock()  # export runs on the sink's thread, readers on theirs
        self.flushes = 0
        self.shut_down = False

    def export(self, batch: Sequence[Record]) -> None:
        with self._lock:
            self._records.extend(batch)

    def flush(self) -> None:
        self.flushes += 1

    def shutdown(self) -> None:
        self.shut_down = True

    @property
    def records(self) -> list[Record]:
        """A copy of what was exported so far, in order."""
        with self._lock:
            return list(self._records)

    def types(self) -> list[str]:
        return [record.type for record in self.records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
