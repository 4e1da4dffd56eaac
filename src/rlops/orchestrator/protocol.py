"""The event protocol over stdout: each line a program prints is a record or log text.

A line that is a schema v1 JSON object becomes a record of the run, stamped with the run's id and
(when the program gave none) the time it was read; the run's log numbers it as it is written.
Anything else is text: kept byte for byte in the run's output log, never fatal. A line that starts like a record
(``{``) but is not a valid one (half-written JSON, NaN, an unknown type, invalid UTF-8) is counted
as bad, so a producer's bug shows on the run instead of vanishing among ordinary prints.

A program's ``end`` record is its word on how it ended, not the end of the run: the run ends when
its processes do, and the worker writes the run's one ``end`` then. So the reader keeps the
program's ``end`` (``program_end``: the worker carries its status into the run's), and any record
the program prints after it is a bad line, kept as text: nothing follows a run's end.
"""

from __future__ import annotations

import json
import time
from typing import Any

import orjson

from rlops.events.schema import SCHEMA_VERSION, End, EventError, Record, from_dict


class ProtocolReader:
    def __init__(self, run_id: str, trace_id: str) -> None:
        self.run_id, self.trace_id = run_id, trace_id
        self.records = self.text_lines = self.bad_lines = 0
        self.last_error: str | None = None
        self.program_end: End | None = None  # the program's own end record, once it printed one

    def read(self, line: bytes) -> Record | None:
        """The record a line holds, or None: the line is text (and counted)."""
        body = line.strip()
        if not body.startswith(b"{"):
            self.text_lines += 1
            return None
        try:
            record = self._record(_parse(body))
        except (ValueError, EventError, RecursionError, OverflowError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return self._bad(f"{type(exc).__name__}: {str(exc)[:200]}")
        if self.program_end is not None:
            return self._bad(f"a {record.type} record after the program's end record: nothing follows a run's "
                             "end (print end last, or not at all: the worker writes it when the program exits)")
        self.records += 1
        if isinstance(record, End):
            self.program_end = record  # not the run's end: the worker writes that when the program has exited
        return record

    def _bad(self, error: str) -> None:
        """A line that looked like a record and is not one the run can take: text, counted as bad."""
        self.bad_lines += 1
        self.text_lines += 1
        self.last_error = error

    def stamp(self, record: Record, t: float | None = None) -> Record:
        """A record made by the worker (its meta, an artifact, the run's end) or the cleanrl tail, as
        the run's: its ids, and its time (``t``, or now) when it has none."""
        record.run_id, record.trace_id = self.run_id, self.trace_id
        record.t = record.t or t or time.time()
        return record

    def _record(self, data: Any) -> Record:
        if not isinstance(data, dict):
            raise EventError(f"a record is a JSON object, not {type(data).__name__}")
        data.setdefault("v", SCHEMA_VERSION)
        data["run_id"] = self.run_id  # the run is the one the orchestrator started, whatever the program says
        data["trace_id"] = data.get("trace_id") or self.trace_id
        data["seq"] = 0  # numbered by the run's log as it is written
        data.setdefault("t", time.time())
        return from_dict(data)


def _parse(body: bytes) -> Any:
    """The line's JSON: orjson's (a fifth of the time, on the worker's path once per line), and
    where orjson refuses one (an integer beyond 64 bits, a lone surrogate, NaN...) the standard
    library's, whose verdict (a value, or the error the run is told) is the one that stands."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body, parse_constant=_reject)


def _reject(name: str) -> float:
    raise EventError(f"non-finite number {name}")
