"""The run store's ingest of a terminal run: ``rlops train`` run outside the orchestrator.

It never takes the records it is handed: a batch only says that the log has grown (the
dispatcher flushes the log before any sink gets a batch), and the sink ingests the log's new
complete lines with ``store.ingest.ingest_log`` from the run's ``ingested_bytes``, exactly as the
daemon does for a supervised run. So a record reaches the store by one route, whoever runs it:
the log, then the one ingest, exactly once by ``seq``. A process killed mid-run leaves its last
lines for the next ingest of the log (the resume's sink, the daemon, ``rlops runs reindex``).

It opens its own connection (used from the dispatcher's thread only) and registers the run with
its directory, log and process, so that a run whose process dies without an ``end`` record can
be found and marked lost. A batch whose ingest failed (the store busy past its timeout) is
counted as dropped by the dispatcher, though the next batch's ingest, reading from the store's
offset, may still take it in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rlops.events.schema import Record
from rlops.sinks.base import RunContext
from rlops.store.ingest import ingest_log
from rlops.store.runs import RunStore


class SqliteSink:
    name = "sqlite"
    lost = 0  # what it could not ingest raised in export, and was counted there (Sink.lost)
    # Records queued before the dispatcher hands it a batch without lingering (its default is
    # 1,024): at 100,000 records a second that was an ingest (a transaction rewriting each key's
    # open chunk) every ten milliseconds; now one per linger (a quarter of a second), as at a slower pace.
    batch_size = 1 << 16

    def __init__(self, db_path: str | Path, run_id: str, run_dir: Path, log_path: Path, runner: str = "rlops") -> None:
        self.store = RunStore(db_path)
        self.run_dir, self.log_path = Path(run_dir).resolve(), Path(log_path).resolve()
        self.store.register_run(run_id, self.run_dir, self.log_path, runner=runner, pid=os.getpid())
        self.offset = self.store.get_run(run_id)["ingested_bytes"]  # a resumed run: where its last process stopped

    @classmethod
    def for_run(cls, context: RunContext) -> SqliteSink:
        return cls(context.options.store.db_path, context.run_id, context.run_dir, context.log_path)

    def export(self, batch: Sequence[Record]) -> None:
        """``batch`` is in the log already: ingest what the log holds beyond the store's offset."""
        self._ingest()

    def flush(self) -> None:
        self._ingest()

    def shutdown(self) -> None:
        try:
            self._ingest()  # the end record: the recorder flushed it to the log before it handed it on
        finally:
            self.store.close()

    def _ingest(self) -> None:
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        if size < self.offset:  # a log rewritten under the run (a reindexed copy): read it again, seq dedups
            self.offset = 0
        if size > self.offset:
            self.offset = ingest_log(self.store, self.log_path, self.offset, run_dir=self.run_dir).offset
