"""The event protocol over stdout: each line a program prints is a record or log text.

A line that is a schema v1 JSON object becomes a record of the run, stamped with the run's id,
its own sequence number and (when the program gave none) the time it was read. Anything else is
text: kept byte for byte in the run's output log, never fatal. A line that starts like a record
(``{``) but is not a valid one (half-written JSON, NaN, an unknown type, invalid UTF-8) is counted
as bad, so a producer's bug shows on the run instead of vanishing among ordinary prints.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rlops.events.schema import SCHEMA_VERSION, EventError, Record, from_dict


class ProtocolReader:
    def __init__(self, run_id: str, trace_id: str, first_seq: int = 0) -> None:
        self.run_id, self.trace_id = run_id, trace_id
        self.seq = first_seq
        self.records = self.text_lines = self.bad_lines = 0
        self.last_error: str | None = None

    def read(self, line: bytes) -> Record | None:
        """The record a line holds, or None: the line is text (and counted)."""
        body = line.strip()
        if not body.startswith(b"{"):
            self.text_lines += 1
            return None
        try:
            record = self._record(json.loads(body, parse_constant=_reject))
        except (ValueError, EventError, RecursionError, OverflowError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            self.bad_lines += 1
            self.text_lines += 1
            self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            return None
        self.records += 1
        return record

    def stamp(self, record: Record) -> Record:
        """A record made here (the worker's own meta or end), numbered like the program's."""
        record.run_id, record.trace_id, record.seq = self.run_id, self.trace_id, self.seq
        record.t = record.t or time.time()
        self.seq += 1
        return record

    def _record(self, data: Any) -> Record:
        if not isinstance(data, dict):
            raise EventError(f"a record is a JSON object, not {type(data).__name__}")
        data.setdefault("v", SCHEMA_VERSION)
        data["run_id"] = self.run_id  # the run is the one the orchestrator started, whatever the program says
        data["trace_id"] = data.get("trace_id") or self.trace_id
        data["seq"] = self.seq
        data.setdefault("t", time.time())
        record = from_dict(data)
        self.seq += 1
        return record


def _reject(name: str) -> float:
    raise EventError(f"non-finite number {name}")
