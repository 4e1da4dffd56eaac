"""When records reach the sinks: a bounded queue drained in batches by one background thread.

``submit`` never blocks and never raises: when the queue is full the record is dropped and
counted. A sink whose ``export`` raises is reported once (with its name), its batch is counted as
dropped, and the other sinks go on. The thread also flushes the flush-on-time sinks (the JSONL
log) at least every ``flush_interval`` seconds.
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


class Dispatcher:
    def __init__(self, sinks: Sequence[Sink], flushed: Sequence[Sink] = (), max_queue: int = 100_000,
                 batch_size: int = 1024, flush_interval: float = 1.0) -> None:
        self.sinks = list(sinks)
        self.flushed = list(flushed)  # flushed on time only; they are written by the producer
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.dropped: Counter[str] = Counter()
        self.failures: dict[str, str] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="rlops-dispatcher", daemon=True)
        self._closed = False
        self._thread.start()

    def submit(self, record: Record) -> None:
        if not self.sinks:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped["queue_full"] += 1

    def close(self, timeout: float = 30.0) -> None:
        """Drain what is queued (up to ``timeout``), flush and stop the thread; sinks stay open."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.dropped["shutdown_timeout"] += self._queue.qsize()

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            timeout = max(0.0, next_flush - time.monotonic())
            batch: list[Record] = []
            stop = False
            try:
                item = self._queue.get(timeout=timeout)
                if item is _STOP:
                    stop = True
                else:
                    batch.append(item)
                    while len(batch) < self.batch_size:
                        item = self._queue.get_nowait()
                        if item is _STOP:
                            stop = True
                            break
                        batch.append(item)
            except queue.Empty:
                pass
            if batch:
                self._export(batch)
            if stop or time.monotonic() >= next_flush:
                self._flush()
                next_flush = time.monotonic() + self.flush_interval
            if stop:
                return

    def _export(self, batch: list[Record]) -> None:
        for sink in self.sinks:
            try:
                sink.export(batch)
            except Exception as exc:  # a sink never raises into training
                self.dropped[sink.name] += len(batch)
                self._report(sink, exc)

    def _flush(self) -> None:
        for sink in (*self.sinks, *self.flushed):
            try:
                sink.flush()
            except Exception as exc:
                self._report(sink, exc)

    def _report(self, sink: Sink, exc: Exception) -> None:
        if sink.name not in self.failures:
            self.failures[sink.name] = f"{type(exc).__name__}: {exc}"
            log.warning("sink %s failed, its records are dropped from now on until it recovers: %s", sink.name, exc)
