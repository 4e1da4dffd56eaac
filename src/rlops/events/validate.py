"""Checking an event log: every line a consumer could not trust, with its line number and a fix.

The log is read as bytes, one bounded line at a time, so a file of any size or any garbage gives
a report of bounded size: lines over ``MAX_LINE_BYTES`` are skipped unparsed and only the first
``MAX_ANOMALIES`` anomalies are kept (all are counted). ``rlops log validate`` is a thin shell
over ``validate_log``; docs/events.md lists the rules checked here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from rlops.events.schema import MAX_LIST_IN_METRICS, EventError, Record, from_dict

# Records are compact (a config snapshot, a traceback at most): a longer line is a dumped array.
MAX_LINE_BYTES = 1 << 20
MAX_ANOMALIES = 1000
COUNTERS = ("env_steps", "opt_steps")
ANOMALY_KINDS = ("invalid_json", "not_an_object", "schema", "non_finite", "per_env_vector", "line_too_long",
                 "torn_last_line", "missing_meta", "empty_log", "seq_gap", "seq_backwards", "counter_backwards",
                 "after_end")


@dataclass
class Anomaly:
    line: int  # 1-based
    kind: str  # one of ANOMALY_KINDS
    message: str


@dataclass
class ValidationReport:
    path: str
    lines: int = 0
    records: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    first_seq: int | None = None
    last_seq: int | None = None
    first_env_steps: int | None = None
    last_env_steps: int | None = None
    runs: list[str] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    anomaly_count: int = 0

    @property
    def ok(self) -> bool:
        return self.anomaly_count == 0

    def add(self, line: int, kind: str, message: str) -> None:
        self.anomaly_count += 1
        if len(self.anomalies) < MAX_ANOMALIES:
            self.anomalies.append(Anomaly(line, kind, message))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def validate_log(path: Path | str) -> ValidationReport:
    with open(path, "rb") as handle:
        return validate_stream(handle, str(path))


def validate_stream(handle: IO[bytes], name: str = "<stream>") -> ValidationReport:
    report = ValidationReport(path=name)
    order = _OrderCheck(report)
    for line in _lines(handle):
        report.lines = line.number
        if line.content is not None and not line.content.strip():
            continue  # blank lines carry nothing; readers skip them too
        try:
            record, data = _parse(line)
        except _LineProblem as problem:
            if line.terminated:
                report.add(line.number, problem.kind, problem.message)
            else:
                report.add(line.number, "torn_last_line",
                           f"the last line has no newline and is not a record ({problem.message}): a write cut "
                           "short by a kill? `rlops train --train.resume` moves it aside to train_log.torn")
            continue
        _count(report, record, data)
        order.check(line.number, record, data)
    if report.records == 0 and report.anomaly_count == 0:
        report.add(1, "empty_log", "the log holds no records: a log starts with a meta record; did the producer "
                                   "write its records somewhere else, or die before its first one?")
    return report


@dataclass
class _Line:
    number: int
    content: bytes | None  # without its line ending; None when over MAX_LINE_BYTES (not kept)
    size: int
    terminated: bool  # ended by a newline; only the file's last line may not be


def _lines(handle: IO[bytes]) -> Iterator[_Line]:
    number = 0
    while chunk := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        terminated = chunk.endswith(b"\n")
        if terminated or len(chunk) <= MAX_LINE_BYTES:
            yield _Line(number, chunk.rstrip(b"\r\n"), len(chunk) - terminated, terminated)
            continue
        size = len(chunk)
        while not terminated and (more := handle.readline(MAX_LINE_BYTES)):  # skip the rest, unkept
            size += len(more)
            terminated = more.endswith(b"\n")
        yield _Line(number, None, size - terminated, terminated)


class _LineProblem(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _parse(line: _Line) -> tuple[Record, dict[str, Any]]:
    if line.content is None:
        raise _LineProblem("line_too_long", f"a line of {line.size} bytes, over the {MAX_LINE_BYTES}-byte limit "
                                            "of a record (not parsed): a dumped array or per-env vector?")
    try:
        text = line.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineProblem("invalid_json", f"not UTF-8: byte 0x{line.content[exc.start]:02x} at column "
                                           f"{exc.start + 1} cannot be decoded; a log is UTF-8 JSON text") from None
    try:
        # NaN and Infinity are read as floats so that they are reported by name, below.
        data = json.loads(text, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise _LineProblem("invalid_json", f"not JSON ({exc.msg} at column {exc.colno}): {_preview(text)}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, nesting deeper than a record's
        raise _LineProblem("invalid_json", f"not JSON that a reader accepts ({type(exc).__name__}: "
                                           f"{str(exc)[:100]}): {_preview(text)}") from None
    if not isinstance(data, dict):
        raise _LineProblem("not_an_object", f"a record is a JSON object, not {type(data).__name__}: {_preview(text)}")
    non_finite = _non_finite_paths(data)
    if non_finite:
        raise _LineProblem("non_finite", f"non-finite number (NaN or Infinity) in {', '.join(non_finite)} of a "
                                         f"{data.get('type')} record: JSON has none; drop the value, or count it "
                                         "(metrics `nonfinite`)")
    if data.get("type") == "metrics":
        _check_metric_lists(data)
    try:
        return from_dict(data), data
    except EventError as exc:
        raise _LineProblem("schema", exc.message) from None


def _preview(text: str, width: int = 60) -> str:
    return repr(text[:width]) + ("..." if len(text) > width else "")


def _non_finite_paths(data: dict[str, Any], most: int = 5) -> list[str]:
    """Where the non-finite numbers are (``reward_mean``, ``config.train.lr``); iterative, as
    nesting may be deep."""
    if not _holds_non_finite(data):
        return []  # the common case, without building a path for every value
    found: list[str] = []
    pending: list[tuple[str, Any]] = [(str(key), value) for key, value in data.items()]
    while pending and len(found) < most:
        where, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(where)
        elif isinstance(value, dict):
            pending.extend((f"{where}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((f"{where}[{index}]", item) for index, item in enumerate(value))
    return sorted(found)


def _holds_non_finite(data: dict[str, Any]) -> bool:
    pending: list[Any] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _check_metric_lists(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, list) and len(value) > MAX_LIST_IN_METRICS:
            raise _LineProblem("per_env_vector", f"metrics.{key} holds {len(value)} items, over the "
                                                 f"{MAX_LIST_IN_METRICS} allowed: per-env vectors do not belong in "
                                                 "a metrics record; record their mean or p10/p50/p90 instead")


def _count(report: ValidationReport, record: Record, data: dict[str, Any]) -> None:
    report.records += 1
    report.by_type[record.type] = report.by_type.get(record.type, 0) + 1
    if report.first_seq is None:
        report.first_seq = record.seq
    report.last_seq = record.seq
    env_steps = data.get("env_steps")
    if isinstance(env_steps, int):
        if report.first_env_steps is None:
            report.first_env_steps = env_steps
        report.last_env_steps = env_steps
    if record.run_id not in report.runs:
        report.runs.append(record.run_id)


@dataclass
class _RunState:
    last_seq: int | None = None
    counters: dict[str, int] = field(default_factory=dict)
    ended_at: int | None = None  # line of an end record not yet followed by meta or resume


class _OrderCheck:
    """The rules between records: a meta first, then per run: seq +1 each record, counters that
    only grow except across a resume, nothing after an end but a new process's meta/resume."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        self.runs: dict[str, _RunState] = {}
        self.seen_first = False

    def check(self, number: int, record: Record, data: dict[str, Any]) -> None:
        if not self.seen_first:
            self.seen_first = True
            if record.type != "meta":
                self.report.add(number, "missing_meta", f"the first record is a {record.type} record, not meta: a "
                                                        "log starts with the run's meta record; was its head cut off?")
        state = self.runs.setdefault(record.run_id, _RunState())
        self._check_end(number, record, state)
        self._check_seq(number, record, state)
        self._check_counters(number, record, data, state)

    def _check_end(self, number: int, record: Record, state: _RunState) -> None:
        if record.type in ("meta", "resume"):
            state.ended_at = None
        elif state.ended_at is not None:
            self.report.add(number, "after_end", f"a {record.type} record after the run's end (line "
                                                 f"{state.ended_at}): a resumed run writes meta and resume first")
            state.ended_at = None  # once per end: the records after it are as suspect as this one
        if record.type == "end":
            state.ended_at = number

    def _check_seq(self, number: int, record: Record, state: _RunState) -> None:
        last = state.last_seq
        if last is not None and record.seq <= last:
            self.report.add(number, "seq_backwards", f"seq {record.seq} after seq {last}: seq grows by one per record "
                                                     "of a run; lines out of order, or two writers on one log?")
        elif last is not None and record.seq != last + 1:
            self.report.add(number, "seq_gap", f"seq jumps from {last} to {record.seq}: {record.seq - last - 1} "
                                               "record(s) missing before this line")
        state.last_seq = record.seq if last is None else max(last, record.seq)

    def _check_counters(self, number: int, record: Record, data: dict[str, Any], state: _RunState) -> None:
        if record.type == "resume":
            # A restarted producer counts from its checkpoint, which may be behind the last record.
            state.counters = {name: data[name] for name in COUNTERS if isinstance(data.get(name), int)}
            return
        for name in COUNTERS:
            value = data.get(name)
            if not isinstance(value, int):
                continue  # absent (or null in an end record): nothing to compare
            previous = state.counters.get(name)
            if previous is not None and value < previous:
                self.report.add(number, "counter_backwards",
                                f"{name} went from {previous} down to {value} in a {record.type} record with no resume "
                                f"record in between: a producer that restarts from a checkpoint writes a resume "
                                f"record (with the {name} it restarts from) first")
            state.counters[name] = value
