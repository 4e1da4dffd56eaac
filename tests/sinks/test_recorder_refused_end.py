"""A log that refuses the ``end`` record (a full disk: /dev/full answers every write with ENOSPC):
``close`` raises the error, and still stops every sink's thread and the flush timer. A thread left
inside native code when the interpreter exits aborts the process ("terminate called without an
active exception", exit -6) instead of letting it exit 1 with its one message."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from rlops.events.schema import Metrics
from rlops.sinks.memory import MemorySink
from rlops.sinks.recorder import RunRecorder

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def rlops_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("rlops-")]


def test_a_refused_end_record_raises_and_leaves_no_sink_thread_running(tmp_path: Path):
    log = tmp_path / "train_log.jsonl"
    log.symlink_to("/dev/full")
    before = rlops_threads()
    memory = MemorySink()
    recorder = RunRecorder("full", log, sinks=[memory])
    recorder.emit(Metrics(env_steps=1, values={"loss": 0.5}))  # buffered: the disk is not met yet
    assert len(rlops_threads()) > len(before)
    with pytest.raises(OSError) as refused:
        recorder.close("failed", reason="the disk is full", env_steps=1)
    assert refused.value.errno == errno.ENOSPC
    assert rlops_threads() == before
    assert recorder.closed
    assert "end" not in memory.types()  # the store holds what the log holds: the log has no end
