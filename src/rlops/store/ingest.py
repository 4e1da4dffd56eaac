"""Reading a run's JSONL log into the run store, from any byte offset, exactly once.

Only complete lines (ending in a newline) are read (``store.lines``), so a log that is still being
written, or was cut mid-line by a kill, is read up to its last complete record and the rest waits
for the next call. Lines that are not records (garbage, invalid UTF-8, NaN...) are counted on the run, never
fatal. The log is read a block (a megabyte) at a time, and runs of metrics records come to the store
as columns (``events.columns``): the same checks as one record at a time, without a ``Metrics``
object per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlops.events.columns import MetricsColumns, decode_lines
from rlops.events.schema import EventError, Record, decode
from rlops.store.lines import LineReader
from rlops.store.run_dir import EVENTS_FILE
from rlops.store.runs import RunStore

BATCH = 4096


@dataclass
class LogIngest:
    run_id: str | None
    records: int
    skipped: int
    bad_lines: int
    offset: int  # bytes of the log read so far (complete lines only)


def ingest_log(store: RunStore, path: Path, offset: int = 0, run_dir: Path | None = None) -> LogIngest:
    """Ingest the complete lines of ``path`` after ``offset``; return where the next call starts."""
    path = Path(path)
    batch: list[Record | MetricsColumns] = []
    held = 0  # records in batch
    run_id: str | None = None
    result = LogIngest(None, 0, 0, 0, offset)
    if not path.exists():
        raise FileNotFoundError(path)  # a log that is not there is the caller's mistake, not an empty log
    reader = LineReader(path, offset)
    for position, lines in reader.blocks():
        decoded = decode_lines(lines)
        result.bad_lines += decoded.bad
        if run_id is None and decoded.items:
            run_id = decoded.items[0].run_id
            if offset == 0:  # a read from further on continues a run the first read registered: one write less a call
                store.register_run(run_id, run_dir or path.parent, path)
        batch += decoded.items
        held += decoded.records
        if held >= BATCH:
            _flush(store, batch, result, position)
            held = 0
    _flush(store, batch, result, reader.offset)
    result.offset = reader.offset
    result.run_id = run_id
    if run_id is not None and result.bad_lines:
        store.count_bad_lines(run_id, result.bad_lines)
    return result


def _flush(store: RunStore, batch: list[Record | MetricsColumns], result: LogIngest, position: int) -> None:
    if not batch:
        return
    stats = store.ingest(batch, log_bytes={batch[0].run_id: position})
    result.records += stats.records
    result.skipped += stats.skipped
    batch.clear()


def reindex(store: RunStore, model_dir: Path) -> list[LogIngest]:
    """Rebuild every run found under ``model_dir`` from its JSONL log."""
    results = []
    for log in sorted(Path(model_dir).glob(f"*/{EVENTS_FILE}")):
        run_id = _first_run_id(log)
        if run_id is not None:
            store.delete_run(run_id)
        results.append(ingest_log(store, log))
    return results


def _first_run_id(path: Path) -> str | None:
    for _, line in LineReader(path).lines():
        try:
            return decode(line.rstrip(b"\r")).run_id
        except EventError:
            continue
    return None
