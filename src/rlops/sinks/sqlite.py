"""The SQLite run-store sink: every record of a run into the run store, batch by batch.

It opens its own connection (used from the dispatcher's thread only) and registers the run with
its directory, log and process, so that a run whose process dies without an ``end`` record can
be found and marked lost.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rlops.events.schema import Record
from rlops.sinks.base import RunContext
from rlops.store.runs import RunStore


class SqliteSink:
    name = "sqlite"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self, db_path: str | Path, run_id: str, run_dir: Path, log_path: Path, runner: str = "rlops") -> None:
        self.store = RunStore(db_path)
        self.store.register_run(run_id, Path(run_dir).resolve(), Path(log_path).resolve(), runner=runner,
                                pid=os.getpid())

    @classmethod
    def for_run(cls, context: RunContext) -> SqliteSink:
        return cls(context.options.registry.db_path, context.run_id, context.run_dir, context.log_path)

    def export(self, batch: Sequence[Record]) -> None:
        self.store.ingest(batch)

    def flush(self) -> None:
        pass  # every batch is committed by export

    def shutdown(self) -> None:
        self.store.close()
