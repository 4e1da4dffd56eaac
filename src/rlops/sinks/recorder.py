"""The producer's side of telemetry: stamp each record with the envelope and send it on.

``RunRecorder.emit`` fills ``run_id``, ``trace_id`` (the run's OpenTelemetry trace id unless the
record has its own), ``seq`` (continuing an existing log after a resume) and ``t``; writes the
record to the JSONL log at once, hands it to the in-process consumers (the registry book) and
queues it for the other sinks. ``close`` drains the sinks and writes the ``end`` record with what
was dropped.

Metrics and episodes reach the disk within a second (the dispatcher's timer flushes the log);
milestones (start, resume, checkpoint, eval, artifact, error) are flushed as they are written,
because a kill right after a checkpoint must not leave a checkpoint the log does not mention.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from rlops.events.schema import Artifact, Checkpoint, End, Error, Eval, EventError, Meta, Metrics, Record, Resume
from rlops.sinks.base import Sink
from rlops.sinks.dispatcher import Dispatcher
from rlops.sinks.jsonl import JsonlSink

log = logging.getLogger(__name__)


FINISH_FLOOR_S = 5.0
MILESTONES = (Meta, Resume, Checkpoint, Eval, Artifact, Error)  # rare, and each one worth a write syscall


@contextmanager
def sink_warnings_muted() -> Iterator[None]:
    """Sink failures logged at ERROR only while this lasts (every sink logs under rlops.sinks): for a
    run ending on a full disk, whose sinks on that disk fail too and whose one message says so."""
    sinks_log = logging.getLogger("rlops.sinks")
    level = sinks_log.level
    sinks_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        sinks_log.setLevel(level)


def new_trace_id() -> str:
    return secrets.token_hex(16)


class RunRecorder:
    def __init__(self, run_id: str, log_path: Path, sinks: Sequence[Sink] = (), trace_id: str | None = None,
                 unavailable: Mapping[str, str] | None = None,
                 consumers: Sequence[Callable[[Record], None]] = ()) -> None:
        self.run_id = run_id
        self.trace_id = trace_id or new_trace_id()
        self.log_path = Path(log_path)
        self.jsonl = JsonlSink(self.log_path)
        self._first_seq = self.jsonl.next_seq
        self.unavailable = dict(unavailable or {})  # sinks that could not start: all their records are dropped
        self._lock = threading.Lock()  # the count of rejected records (emit may be called from any thread)
        self.sinks = list(sinks)
        # In-process consumers of the run's records (the registry book, services.run_models): called
        # on the producer's thread once a record is in the log, never dropped; each one never raises.
        self.consumers = list(consumers)
        self.dispatcher = Dispatcher(self.sinks, log=self.jsonl)
        self.rejected = 0
        self.closed = False

    @property
    def next_seq(self) -> int:
        return self.jsonl.next_seq

    def emit(self, record: Record) -> Record | None:
        """Stamp and record; a record the schema refuses (NaN...) is counted and logged, not raised."""
        record.run_id = self.run_id
        if not record.trace_id:
            record.trace_id = self.trace_id
        try:
            # Stamped with t and numbered under the log's one lock (the stamps above are the record's own).
            self.jsonl.append(record, timed=True,
                              flush=type(record) is not Metrics and isinstance(record, MILESTONES))
        except EventError as exc:
            with self._lock:
                self.rejected += 1
            log.warning("record not written: %s", exc)
            return None
        for consumer in self.consumers:
            consumer(record)
        self.dispatcher.submit(record)
        return record

    def close(self, status: str = "finished", reason: str | None = None, env_steps: int | None = None,
              timeout: float = 30.0) -> End:
        """Drain and flush the sinks, write the ``end`` record with what each sink dropped to the log,
        then hand it to the sinks and shut them down, all within ``timeout`` (+ ``FINISH_FLOOR_S``).
        Flushing first lets a sink with a background exporter know what it failed to deliver."""
        deadline = time.monotonic() + timeout
        self.dispatcher.drain(timeout, flush=True)
        dropped = dict(self.dispatcher.dropped)
        for sink in self.sinks:  # what a sink's own background exporter failed to deliver (Sink.lost)
            if sink.lost:
                dropped[sink.name] = dropped.get(sink.name, 0) + sink.lost
        if self.rejected:
            dropped["rejected"] = self.rejected
        for name in self.unavailable:
            dropped[name] = self.jsonl.next_seq - self._first_seq + 1  # every record of this process, the end included
        end = End(status=status, reason=reason, env_steps=env_steps, dropped=dropped)
        # One deadline for both: a sink stuck in the drain gets only what is left (and at least
        # FINISH_FLOOR_S for its end record), so a run's end waits at most timeout + FINISH_FLOOR_S.
        finish_within = max(deadline - time.monotonic(), min(FINISH_FLOOR_S, timeout))
        try:
            end.run_id, end.trace_id = self.run_id, self.trace_id
            self.jsonl.append(end, timed=True, flush=True)  # the log holds the end before any sink does
        except OSError:
            # A full disk refused the end: the sinks do not get it either (the store holds what the
            # log holds), but their threads are stopped all the same. Left running, a sink or
            # exporter thread inside native code when the interpreter exits aborts the process
            # ("terminate called without an active exception") instead of its exit status 1.
            self.dispatcher.finish(None, finish_within)
            self.jsonl.abandon()
            self.closed = True
            raise
        self.dispatcher.finish(end, finish_within)
        self.jsonl.shutdown()
        self.closed = True
        return end

    @property
    def failures(self) -> dict[str, str]:
        return {**self.unavailable, **self.dispatcher.failures}
