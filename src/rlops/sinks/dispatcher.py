"""When records reach the sinks: one bounded queue and one thread per sink.

``submit`` never blocks and never raises: a record that finds a sink's queue full is dropped for
that sink and counted under its name. Each sink drains on its own thread, so an endpoint that
hangs or is down slows nobody else: not training, not the SQLite store, not the other exporters.
A sink with an ``open`` method (a remote backend, ``sinks.opening``) is opened on its thread
before its first batch. A sink whose ``export`` raises is reported once (with its name, which
names its endpoint), its batch is counted as dropped, and it is tried again with the next batch.
The run's log is not one of them: the producer writes it itself (it is never dropped), and the
dispatcher flushes it at least every ``flush_interval`` and before it hands any sink a batch, so
a sink never holds a record the log file does not. Each call on a sink comes back as an
``SinkOutcome``; the dispatcher alone counts them (``dropped``, ``failures``), as OpenTelemetry's
span processor does with its exporter's results.

``drain`` waits, up to a deadline, until every queue is empty (and, if asked, every sink
flushed); ``finish`` hands each sink its last record, stops its thread and calls ``shutdown`` on
that thread, never waiting past the deadline: a sink that hangs at the end is left behind,
counted, and cannot hold the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rlops.events.schema import Record
from rlops.sinks.base import Sink
from rlops.sinks.opening import SinkUnavailable

log = logging.getLogger(__name__)
_STOP = object()
_FLUSH = object()  # queued by drain(flush=True): the sink flushes on its own thread, in order
# A sink's thread waits this long after a record for more to join its batch: one SQLite transaction
# or one OTLP request per ~0.25 s instead of one per record (an episode of CartPole is a record),
# which is what keeps the sinks' share of the GIL, and so their cost to training, small.
LINGER_S = 0.25


@dataclass(frozen=True)
class SinkOutcome:
    """What one call on a sink came to (OpenTelemetry's ``SpanExportResult``, with the count): the
    sink's worker says it, the dispatcher counts it."""

    sink: Sink
    during: str  # open | export | flush | shutdown | finish
    records: int = 0  # in the batch (export) or left in the queue (finish)
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _SinkWorker:
    """One sink's queue and thread; it says what each call came to through ``report`` and keeps no
    counts. The queue is a deque: ``submit`` appends (no lock, no wake-up of the sink's thread but
    for the first record of a batch), the thread takes everything there is after its linger. A
    ``queue.Queue`` woke the sink's thread for each record: at 100,000 records a second that
    ping-pong of the GIL cost more than encoding them."""

    def __init__(self, sink: Sink, report: Callable[[SinkOutcome], None], before_export: Callable[[], None],
                 max_queue: int, batch_size: int, linger: float) -> None:
        self.sink = sink
        self._report = report
        self._before_export = before_export
        # A sink may ask for bigger batches (SqliteSink: a batch only says that the log has grown,
        # and each of its ingests is a transaction that rewrites a chunk per key): it still waits no
        # longer than the linger after a record.
        self._batch_size = getattr(sink, "batch_size", None) or batch_size
        self._max_queue = max_queue
        self._linger = linger
        self._items: deque = deque()  # records and, in order among them, the _FLUSH and _STOP markers
        self._wake = threading.Event()  # something is queued
        self._urgent = threading.Event()  # a full batch or a marker is queued: no lingering
        self._busy = False  # taking or exporting what it took
        self._thread = threading.Thread(target=self._run, name=f"rlops-sink-{sink.name}", daemon=True)
        self._thread.start()

    def submit(self, record: Record) -> bool:
        """Queue a record; False when the queue is full (the record is dropped for this sink)."""
        items = self._items
        if len(items) >= self._max_queue:
            return False
        items.append(record)
        if len(items) >= self._batch_size and not self._urgent.is_set():
            self._urgent.set()
        if not self._wake.is_set():
            self._wake.set()
        return True

    def put_marker(self, marker: object) -> None:
        """A marker (or the last record) is never refused: it goes after everything queued."""
        self._items.append(marker)
        self._urgent.set()
        self._wake.set()

    def stop(self, last: Record | None) -> None:
        """Hand the sink ``last`` after what is queued, then shut it down on its thread."""
        if last is not None:
            self.put_marker(last)
        self.put_marker(_STOP)

    def join(self, timeout: float) -> int | None:
        """Wait for the thread to end; None once it has, else how many records it left queued."""
        self._thread.join(max(0.0, timeout))
        if not self._thread.is_alive():
            return None
        return sum(1 for item in list(self._items) if item is not _STOP and item is not _FLUSH)

    def idle(self) -> bool:
        return not self._busy and not self._items

    def _run(self) -> None:
        opener = getattr(self.sink, "open", None)  # a remote backend opens here, off the training thread
        if opener is not None:
            self._call("open", opener)
        while True:
            self._wake.wait()
            if not self._urgent.is_set():
                self._urgent.wait(self._linger)  # for more records to join the batch
            self._busy = True
            self._wake.clear()
            self._urgent.clear()
            while self._items:
                if self._take_and_export():
                    self._call("shutdown", self.sink.shutdown)
                    self._busy = False
                    return
            self._busy = False

    def _take_and_export(self) -> bool:
        """Export up to a batch of what is queued, then act on a marker found there; True on _STOP."""
        batch: list[Record] = []
        marker = None
        items = self._items
        while items and len(batch) < self._batch_size:
            item = items.popleft()
            if item is _STOP or item is _FLUSH:
                marker = item
                break
            batch.append(item)
        if batch:
            self._before_export()
            self._call("export", lambda: self.sink.export(batch), len(batch))
        if marker is _FLUSH:
            self._call("flush", self.sink.flush)
        return marker is _STOP

    def _call(self, during: str, action: Callable[[], object], records: int = 0) -> None:
        try:
            action()
        except Exception as exc:  # a sink never raises into training
            self._report(SinkOutcome(self.sink, during, records, exc))
            return
        self._report(SinkOutcome(self.sink, during, records))


class Dispatcher:
    """Owns the sinks' workers and what they report: ``dropped`` (records per sink name) and
    ``failures`` (the first error per sink name)."""

    def __init__(self, sinks: Sequence[Sink], log: Sink | None = None, max_queue: int = 100_000,
                 batch_size: int = 1024, flush_interval: float = 1.0, linger: float = LINGER_S) -> None:
        self.sinks = list(sinks)
        self.log = log  # the run's log: written by the producer itself, flushed here on time and before each export
        self.flush_interval = flush_interval
        self.dropped: Counter[str] = Counter()
        self.failures: dict[str, str] = {}
        self._failing: set[str] = set()
        self._lock = threading.Lock()
        self._workers = [_SinkWorker(sink, self._count, self._flush_log, max_queue, batch_size, linger)
                         for sink in self.sinks]
        self._stopped = threading.Event()
        self._timer = threading.Thread(target=self._flush_on_time, name="rlops-flush", daemon=True)
        self._timer.start()

    def submit(self, record: Record) -> None:
        for worker in self._workers:
            if not worker.submit(record):
                self.dropped[worker.sink.name] += 1

    def drain(self, timeout: float = 30.0, flush: bool = False) -> None:
        """Wait until every sink has taken everything queued, or the deadline passes; with ``flush``,
        until each has flushed it too (what its own exporter then fails to deliver is known)."""
        deadline = time.monotonic() + timeout
        if flush:
            for worker in self._workers:
                worker.put_marker(_FLUSH)
        while not all(w.idle() for w in self._workers) and time.monotonic() < deadline:
            time.sleep(0.005)

    def finish(self, last: Record | None = None, timeout: float = 30.0) -> None:
        """Give each sink ``last``, stop it and shut it down on its own thread, within ``timeout``."""
        self._stopped.set()
        self._timer.join(timeout=1.0)
        self._flush_log()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.stop(last)
        for worker in self._workers:
            left = worker.join(deadline - time.monotonic())
            if left is not None:
                self._count(SinkOutcome(worker.sink, "finish", left,
                                         TimeoutError(f"still busy after {timeout:g} s at the end of the run")))

    def close(self, timeout: float = 30.0) -> None:
        self.drain(timeout)
        self.finish(None, timeout)

    def _flush_on_time(self) -> None:
        while not self._stopped.wait(self.flush_interval):
            self._flush_log()

    def _flush_log(self) -> None:
        """Push the log's buffer to the file: on time, and before any sink is handed a batch, so that
        what a sink holds the log holds too (the store's ingest reads it there)."""
        if self.log is None:
            return
        try:
            self.log.flush()
        except Exception as exc:
            self._count(SinkOutcome(self.log, "flush", 0, exc))

    def _count(self, result: SinkOutcome) -> None:
        """Every call on a sink ends here (from the sink's thread, the timer or ``finish``)."""
        name = result.sink.name
        if result.ok:
            if result.during == "export" and name in self._failing:
                self._failing.discard(name)
                log.warning("sink %s recovered", name)
            return
        with self._lock:
            if result.during in ("export", "finish"):
                self.dropped[name] += result.records
            if result.during in ("open", "export"):
                self._failing.add(name)
        self._report(result.sink, result.error, result.during)

    def _report(self, sink: Sink, exc: BaseException, during: str) -> None:
        """Log a sink's first failure (its name names its endpoint); later ones are only counted."""
        with self._lock:
            if sink.name in self.failures:
                return
            self.failures[sink.name] = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SinkUnavailable):
            log.warning("sink %s is unavailable, the run goes on without it (the JSONL log is complete): %s",
                        sink.name, exc)
            return
        log.warning("sink %s failed (%s): %s; its records are dropped and counted until it recovers, and the "
                    "JSONL log stays complete", sink.name, during, exc)
