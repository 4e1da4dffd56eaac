"""When records reach the sinks: one bounded queue and one thread per sink.

``submit`` never blocks and never raises: a record that finds a sink's queue full is dropped for
that sink and counted under its name. Each sink drains on its own thread, so an endpoint that
hangs or is down slows nobody else: not training, not the SQLite store, not the other exporters.
A sink whose ``export`` raises is reported once (with its name, which names its endpoint), its
batch is counted as dropped, and it is tried again with the next batch. A separate timer flushes
the flush-on-time sinks (the JSONL log, written by the producer) at least every ``flush_interval``.

``drain`` waits, up to a deadline, until every queue is empty (and, if asked, every sink flushed); ``finish`` hands each sink its last
record, stops its thread and calls ``shutdown`` on that thread, never waiting past the deadline: a
sink that hangs at the end is left behind, counted, and cannot hold the process.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence

from rlops.events.schema import Record
from rlops.sinks.base import Sink

log = logging.getLogger(__name__)
_STOP = object()
_FLUSH = object()  # queued by drain(flush=True): the sink flushes on its own thread, in order
# A sink's thread waits this long after a record for more to join its batch: one SQLite transaction
# or one OTLP request per ~0.25 s instead of one per record (an episode of CartPole is a record),
# which is what keeps the sinks' share of the GIL, and so their cost to training, small.
LINGER_S = 0.25


class _SinkWorker:
    def __init__(self, sink: Sink, dispatcher: Dispatcher, max_queue: int, batch_size: int, linger: float) -> None:
        self.sink = sink
        self.dispatcher = dispatcher
        self.batch_size = batch_size
        self.linger = linger
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.failing = False
        self.thread = threading.Thread(target=self._run, name=f"rlops-sink-{sink.name}", daemon=True)
        self.thread.start()

    def submit(self, record: Record) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dispatcher.dropped[self.sink.name] += 1

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            batch: list[Record] = []
            stop, flush = item is _STOP, item is _FLUSH
            if not (stop or flush):
                batch.append(item)
            deadline = time.monotonic() + self.linger
            while not (stop or flush) and len(batch) < self.batch_size:
                try:
                    item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                elif item is _FLUSH:
                    flush = True
                else:
                    batch.append(item)
            if batch:
                self._export(batch)
            if flush:
                self._call("flush", self.sink.flush)
            for _ in range(len(batch) + stop + flush):
                self.queue.task_done()
            if stop:
                self._call("shutdown", self.sink.shutdown)
                return

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
        return self.queue.unfinished_tasks == 0


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
                try:
                    worker.queue.put(_FLUSH, timeout=max(0.0, deadline - time.monotonic()))
                except queue.Full:
                    pass  # a sink that cannot even take the marker is counted at finish
        while not all(w.idle() for w in self._workers) and time.monotonic() < deadline:
            time.sleep(0.005)

    def finish(self, last: Record | None = None, timeout: float = 30.0) -> None:
        """Give each sink ``last``, stop it and shut it down on its own thread, within ``timeout``."""
        self._stopped.set()
        self._timer.join(timeout=1.0)
        self._flush_timed()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            for item in ((last,) if last is not None else ()) + (_STOP,):
                try:
                    worker.queue.put(item, timeout=max(0.0, deadline - time.monotonic()))
                except queue.Full:
                    self.dropped[worker.sink.name] += 1
        for worker in self._workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))
            if worker.thread.is_alive():
                self.dropped[worker.sink.name] += max(0, worker.queue.qsize() - 1)
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
        log.warning("sink %s failed (%s): %s; its records are dropped and counted until it recovers, and the "
                    "JSONL log stays complete", sink.name, during, exc)
