"""When records reach the sinks: one bounded queue and one thread per sink.

``submit`` never blocks and never raises: a record that finds a sink's queue full is dropped for
that sink and counted under its name. Each sink drains on its own thread, so an endpoint that
hangs or is down slows nobody else: not training, not the SQLite store, not the other exporters.
A sink with an ``open`` method (a remote backend, ``sinks.opening``) is opened on its thread
before its first batch. A sink whose ``export`` raises is reported once (with its name, which
names its endpoint), its batch is counted as dropped, and it is tried again with the next batch.
A separate timer flushes the flush-on-time sinks (the JSONL log, written by the producer) at
least every ``flush_interval``.

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
from collections.abc import Sequence

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


class _SinkWorker:
    """One sink's queue and thread. The queue is a deque: ``submit`` appends (no lock, no wake-up of
    the sink's thread but for the first record of a batch), the thread takes everything there is
    after its linger. A ``queue.Queue`` woke the sink's thread for each record: at 100,000 records
    a second that ping-pong of the GIL cost more than encoding them."""

    def __init__(self, sink: Sink, dispatcher: Dispatcher, max_queue: int, batch_size: int, linger: float) -> None:
        self.sink = sink
        self.dispatcher = dispatcher
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.linger = linger
        self.items: deque = deque()  # records and, in order among them, the _FLUSH and _STOP markers
        self.wake = threading.Event()  # something is queued
        self.urgent = threading.Event()  # a full batch or a marker is queued: no lingering
        self.busy = False  # taking or exporting what it took
        self.failing = False
        self.thread = threading.Thread(target=self._run, name=f"rlops-sink-{sink.name}", daemon=True)
        self.thread.start()

    def submit(self, record: Record) -> None:
        items = self.items
        if len(items) >= self.max_queue:
            self.dispatcher.dropped[self.sink.name] += 1
            return
        items.append(record)
        if len(items) >= self.batch_size and not self.urgent.is_set():
            self.urgent.set()
        if not self.wake.is_set():
            self.wake.set()

    def put_marker(self, marker: object) -> None:
        """A marker (or the last record) is never refused: it goes after everything queued."""
        self.items.append(marker)
        self.urgent.set()
        self.wake.set()

    def _run(self) -> None:
        opener = getattr(self.sink, "open", None)  # a remote backend opens here, off the training thread
        if opener is not None:
            try:
                opener()
            except Exception as exc:
                self.failing = True
                self.dispatcher.report(self.sink, exc, "open")
        while True:
            self.wake.wait()
            if not self.urgent.is_set():
                self.urgent.wait(self.linger)  # for more records to join the batch
            self.busy = True
            self.wake.clear()
            self.urgent.clear()
            while self.items:
                if self._take_and_export():
                    self._call("shutdown", self.sink.shutdown)
                    self.busy = False
                    return
            self.busy = False

    def _take_and_export(self) -> bool:
        """Export up to a batch of what is queued, then act on a marker found there; True on _STOP."""
        batch: list[Record] = []
        marker = None
        items = self.items
        while items and len(batch) < self.batch_size:
            item = items.popleft()
            if item is _STOP or item is _FLUSH:
                marker = item
                break
            batch.append(item)
        if batch:
            self._export(batch)
        if marker is _FLUSH:
            self._call("flush", self.sink.flush)
        return marker is _STOP

    def _export(self, batch: list[Record]) -> None:
        try:
            self.sink.export(batch)
        except Exception as exc:  # a sink never raises into training
            self.dispatcher.dropped[self.sink.name] += len(batch)
            if not self.failing:
                self.failing = True
                self.dispatcher.report(self.sink, exc)
            return
        if self.failing:
            self.failing = False
            log.warning("sink %s recovered", self.sink.name)

    def _call(self, what: str, action) -> None:  # noqa: ANN001 - a bound method of the sink
        try:
            action()
        except Exception as exc:
            self.dispatcher.report(self.sink, exc, what)

    def idle(self) -> bool:
        return not self.busy and not self.items


class Dispatcher:
    def __init__(self, sinks: Sequence[Sink], flushed: Sequence[Sink] = (), max_queue: int = 100_000,
                 batch_size: int = 1024, flush_interval: float = 1.0, linger: float = LINGER_S) -> None:
        self.sinks = list(sinks)
        self.flushed = list(flushed)  # flushed on time only; the producer writes them
        self.flush_interval = flush_interval
        self.dropped: Counter[str] = Counter()
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._workers = [_SinkWorker(sink, self, max_queue, batch_size, linger) for sink in self.sinks]
        self._stopped = threading.Event()
        self._timer = threading.Thread(target=self._flush_on_time, name="rlops-flush", daemon=True)
        self._timer.start()

    def submit(self, record: Record) -> None:
        for worker in self._workers:
            worker.submit(record)

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
        self._flush_timed()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            if last is not None:
                worker.put_marker(last)
            worker.put_marker(_STOP)
        for worker in self._workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                self.dropped[worker.sink.name] += sum(1 for item in list(worker.items) if item is not _STOP
                                                      and item is not _FLUSH)
                self.report(worker.sink, TimeoutError(f"still busy after {timeout:g} s at the end of the run"),
                            "finish")

    def close(self, timeout: float = 30.0) -> None:
        self.drain(timeout)
        self.finish(None, timeout)

    def _flush_on_time(self) -> None:
        while not self._stopped.wait(self.flush_interval):
            self._flush_timed()

    def _flush_timed(self) -> None:
        for sink in self.flushed:
            try:
                sink.flush()
            except Exception as exc:
                self.report(sink, exc, "flush")

    def report(self, sink: Sink, exc: BaseException, during: str = "export") -> None:
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
