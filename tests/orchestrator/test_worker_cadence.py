"""The worker's read cadence: a program that flushes every few milliseconds does not wake its
worker each time (a dry pipe is left ``GATHER_S`` to fill), its pipe is wide enough not to block it
meanwhile, and every record still reaches the log; and the protocol's fast JSON parse gives the
standard library's verdict on every line it refuses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rlops.orchestrator.protocol import ProtocolReader
from rlops.orchestrator.worker import GATHER_S, PIPE_BYTES
from tests.orchestrator.test_supervisor import PROGRAMS, records, service, settle


def test_a_program_flushing_every_5_ms_wakes_its_worker_a_few_times_and_loses_nothing():
    svc = service()
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "chatty.py")], name="chatty")
    run = settle(svc, run_id)
    assert run["status"] == "finished"
    cadence = json.loads((Path(run["run_dir"]) / "cadence.json").read_text())
    # 100 prints over at least half a second: the log grew about once a GATHER_S (a worker reading at
    # each print made it grow up to 100 times), with room for a slow start
    assert cadence["log_sizes"] <= 1.0 / GATHER_S, cadence
    assert cadence["pipe_bytes"] >= min(PIPE_BYTES, int(Path("/proc/sys/fs/pipe-max-size").read_text()))
    logged = [r for r in records(run) if r.type == "metrics"]
    assert [r.env_steps for r in logged] == list(range(1, 101))
    svc.close()


@pytest.mark.parametrize("line", [
    b'{"type": "metrics", "env_steps": 1, "loss": 123456789012345678901234567890}',  # beyond 64 bits
    b'{"type": "metrics", "env_steps": 1, "loss": NaN}',
    b'{"type": "metrics", "env_steps": 1, "loss": 1e400}',
    b'{"type": "metrics", "env_steps": 1, "loss": 0.5, "note": "\\ud800"}',  # a lone surrogate
    b'{"type": "metrics", "env_steps": 1, "loss": 0.5} trailing',
    b'{"type": "metrics", "env_steps": 1, "loss": 0.5}',
])
def test_the_protocol_parse_agrees_with_the_standard_library(line):
    def verdict(reader: ProtocolReader, parse) -> tuple:
        import rlops.orchestrator.protocol as protocol

        saved, protocol._parse = protocol._parse, parse
        try:
            record = reader.read(line)
        finally:
            protocol._parse = saved
        return (None if record is None else (record.type, record.env_steps)), reader.bad_lines, reader.last_error

    import rlops.orchestrator.protocol as protocol

    fast = verdict(ProtocolReader("r", "a" * 32), protocol._parse)
    standard = verdict(ProtocolReader("r", "a" * 32), lambda body: json.loads(body, parse_constant=protocol._reject))
    assert fast == standard
