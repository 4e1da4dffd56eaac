"""The JSONL log on a disk that fills while the sink writes its buffer: the disk takes part of it
and refuses the rest (ENOSPC), which used to leave a torn last line for the next append to glue a
record to. The log must end at its last whole record, keep every whole record the disk took, and
continue cleanly: in the same process once room comes back, or in a resumed one."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest

from rlops.events.reader import BadLine, read_records
from rlops.events.schema import End, Meta, Metrics, Record, Resume
from rlops.events.validate import validate_log
from rlops.sinks.jsonl import BUFFER_BYTES, JsonlSink
from tests.disk_faults import SmallDisk, small_disk

# Far less than the sink's buffer: its write of a full buffer is cut short by the disk, mid-line.
ROOM_LEFT = 96 << 10
TRACE = "ab" * 16


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "disk", size_mb=4) as disk:
        if disk.kind != "tmpfs":  # the fallback injector works in subprocesses, and refuses writes whole
            pytest.skip("needs a tmpfs to mount (root): a real disk that takes part of a write")
        yield disk


def record(step: int) -> Record:
    # An odd length, so that the disk's page-sized cut falls inside a line.
    return Metrics(run_id="full", trace_id=TRACE, env_steps=step, values={"loss": 0.5, "padding_xy": 1.0})


def fill_until_refused(sink: JsonlSink, first_step: int) -> int:
    """Append records until the disk refuses a write of the buffer; return how many were appended,
    the one whose append raised included (it stays numbered and buffered)."""
    appended = 0
    with pytest.raises(OSError) as refused:
        while appended < 10 * BUFFER_BYTES:
            appended += 1
            sink.append(record(first_step + appended - 1), timed=True)
    assert refused.value.errno == errno.ENOSPC
    return appended


def records_of(log: Path) -> list[Record]:
    records = [item for _, item in read_records(log)]
    assert not [item for item in records if isinstance(item, BadLine)], "a line that does not decode"
    return records  # type: ignore[return-value]


def start_log(disk: SmallDisk) -> tuple[JsonlSink, Path]:
    log = disk.path / "train_log.jsonl"
    sink = JsonlSink(log)
    sink.append(Meta(run_id="full", trace_id=TRACE, config={}), timed=True, flush=True)
    return sink, log


def test_a_write_the_disk_cuts_short_leaves_whole_records_and_a_resume_appends_cleanly(full_disk):
    sink, log = start_log(full_disk)
    full_disk.fill(leave=ROOM_LEFT)
    appended = fill_until_refused(sink, first_step=1)
    sink.abandon()  # as RunRecorder.close does when the disk refuses the end record

    assert log.read_bytes().endswith(b"\n")
    kept = records_of(log)
    # The whole records the disk took in the refused write are kept: about ROOM_LEFT of them, not just the meta.
    assert len(log.read_bytes()) > ROOM_LEFT // 2
    assert [r.seq for r in kept] == list(range(len(kept)))
    assert 1 < len(kept) < appended + 1

    full_disk.grow(size_mb=16)
    resumed = JsonlSink(log)
    assert resumed.torn_bytes == 0 and not log.with_suffix(".torn").exists()  # nothing torn to set aside
    assert resumed.next_seq == len(kept)
    last_steps = kept[-1].env_steps  # type: ignore[attr-defined]
    resumed.append(Meta(run_id="full", trace_id=TRACE, config={}), timed=True)
    resumed.append(Resume(run_id="full", trace_id=TRACE, env_steps=last_steps), timed=True)
    for step in range(last_steps + 1, last_steps + 4):
        resumed.append(record(step), timed=True)
    resumed.append(End(run_id="full", trace_id=TRACE, status="finished", env_steps=last_steps + 3), timed=True)
    resumed.shutdown()

    report = validate_log(log)
    assert report.ok, report.anomalies
    records = records_of(log)
    assert [r.seq for r in records] == list(range(len(kept) + 6))
    assert [r.type for r in records[len(kept):]] == ["meta", "resume", "metrics", "metrics", "metrics", "end"]


def test_records_the_disk_refused_are_written_once_room_comes_back(full_disk):
    sink, log = start_log(full_disk)
    full_disk.fill(leave=ROOM_LEFT)
    appended = fill_until_refused(sink, first_step=1)
    assert log.read_bytes().endswith(b"\n")

    full_disk.grow(size_mb=16)
    sink.append(record(appended + 1), timed=True)
    sink.shutdown()

    records = records_of(log)
    assert [r.seq for r in records] == list(range(appended + 2))  # the meta, every metrics record, none twice
    assert [r.env_steps for r in records[1:]] == list(range(1, appended + 2))  # type: ignore[attr-defined]
