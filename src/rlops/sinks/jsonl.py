"""The JSONL log, ``train_log.jsonl``: the run's source of truth, and the one writer of it.

Every producer writes a run's log through ``JsonlSink.append``, which numbers each record with
the log's next ``seq`` (gap-free, whoever made the record, continuing a log that exists): the
trainer's ``RunRecorder`` and the orchestrator's worker (a ``command``, ``cleanrl``, ``play`` or
``offline`` program's records) alike. It is written on the producer's thread (one orjson
encoding and a buffered write per record, about two microseconds), so it can never be dropped by
a full queue; its producer flushes it on time (the dispatcher's timer: every second; the worker:
every 0.2 s), so a kill loses at most that much. A log opened again first moves a torn last line
(a record cut by a kill) aside to ``train_log.torn``, keeping its bytes.

A write the disk refuses part-way (ENOSPC) cannot leave a torn line either: the sink cuts the file
back to the end of its last whole record, keeps the records that did not fit in its buffer (a later
flush writes them if room comes back) and raises, so the log is whole lines and a resume appends
cleanly after them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from rlops.events.schema import EventError, Record, decode, encode_line


# Bytes held before a write to the OS. A large buffer: each write lets the sink threads take the GIL
# for a switch interval; the dispatcher's timer flushes it every second.
BUFFER_BYTES = 1 << 20


class JsonlSink:
    name = "jsonl"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.torn_bytes = set_aside_torn_tail(self.path)
        self._lock = threading.Lock()
        # Unbuffered: the sink holds its own buffer of whole lines (UTF-8 bytes, as encode_line gives
        # them), so that it knows what reached the file when a write fails part-way (_write_pending).
        self._file = open(self.path, "ab", buffering=0)
        self._pending = bytearray()
        self._whole_end = self._file.seek(0, os.SEEK_END)  # the file ends here with a whole line (or is empty)
        self.next_seq = last_seq(self.path) + 1  # a log continued (a resume, a Ray run retried) numbers on

    def append(self, record: Record, timed: bool = False, flush: bool = False) -> Record:
        """Number ``record`` with the log's next ``seq`` and write it (the producer's path, once per
        record). A record the schema refuses (NaN...) raises ``EventError`` and takes no number.
        ``timed`` stamps its ``t`` now, under the lock that numbers it, so that ``t`` follows ``seq``
        whichever thread emits; ``flush`` pushes it to the file at once (a milestone). One lock taken
        per record, not one for the stamp and one for the number: this is the producer's hot path.
        A disk that refuses the write raises ``OSError``; the record stays numbered and buffered."""
        with self._lock:
            if timed:
                record.t = time.time()
            record.seq = self.next_seq
            self._pending += encode_line(record)
            self.next_seq += 1
            if flush or len(self._pending) >= BUFFER_BYTES:
                self._write_pending()
        return record

    def export(self, batch: Sequence[Record]) -> None:
        """Write records as they are numbered already (a copy of another log)."""
        lines = b"".join([encode_line(record) for record in batch])
        with self._lock:
            self._pending += lines
            if len(self._pending) >= BUFFER_BYTES:
                self._write_pending()

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._write_pending()

    def abandon(self) -> None:
        """Close the file after the disk refused a write (ENOSPC): what still does not fit is lost,
        what was written before stays, whole lines only. The caller reports the refusal."""
        with self._lock:
            if self._file.closed:
                return
            try:
                self._write_pending()  # room may have come back; if not, the file is cut to whole lines
            except OSError:
                pass
            finally:
                self._pending.clear()
                self._file.close()

    def shutdown(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._write_pending()
                os.fsync(self._file.fileno())
                self._file.close()

    def _write_pending(self) -> None:
        """Write the buffer to the file (under the lock). The OS may take part of it and then refuse
        the rest (ENOSPC): the file is cut back to the end of the last whole line it took, so that it
        never ends in a torn record another append would glue to, and the lines it did not take stay
        buffered; the error is raised."""
        data = bytes(self._pending)  # immutable: an error's traceback may hold a slice of it
        written = 0
        try:
            while written < len(data):
                written += self._file.write(data[written:] if written else data)
        except OSError as refused:
            whole = data.rfind(b"\n", 0, written) + 1
            if written > whole:  # a record reached the file in part
                try:
                    self._file.truncate(self._whole_end + whole)
                except OSError as cut:  # shrinking a file needs no space; say so if it fails all the same
                    refused.add_note(f"{self.path} may end in a torn line: cutting it back failed ({cut})")
            self._whole_end += whole
            del self._pending[:whole]
            raise
        self._whole_end += written
        self._pending.clear()


def set_aside_torn_tail(path: Path) -> int:
    """Cut an unterminated last line off the log and append it to ``<stem>.torn``; return its size."""
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        start = size
        while start > 0:
            step = min(4096, start)
            handle.seek(start - step)
            block = handle.read(step)
            newline = block.rfind(b"\n")
            if newline != -1:
                start = start - step + newline + 1
                break
            start -= step
        if start == size:
            return 0
        handle.seek(start)
        tail = handle.read()
        with open(path.with_suffix(".torn"), "ab") as torn:
            torn.write(tail + b"\n")
            torn.flush()
            os.fsync(torn.fileno())
        handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
        return len(tail)


def last_seq(path: Path) -> int:
    """The ``seq`` of the last valid record in a log (-1 when there is none), reading from the end."""
    if not path.exists():
        return -1
    for line in _lines_backwards(path):
        try:
            return decode(line).seq
        except EventError:  # a torn or foreign line: keep looking further back
            continue
    return -1


def _lines_backwards(path: Path, block: int = 1 << 16) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        carry = b""
        while position > 0:
            step = min(block, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + carry).split(b"\n")
            carry = lines[0]
            yield from (line for line in reversed(lines[1:]) if line)
        if carry:
            yield carry
