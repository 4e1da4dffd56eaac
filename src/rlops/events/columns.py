"""Log lines decoded for the store, with metrics records taken by column.

A training log is mostly metrics records with the same keys, line after line. Decoding each into
a ``Metrics`` object and checking it field by field cost the store's ingest five times what
orjson's parse did, so consecutive metrics records of one run with the same keys are checked and
kept as columns (``MetricsColumns``): one type check and one finiteness check per key for the
whole run of lines, the same rules as ``schema.from_dict``. Anything else, and any run of lines a
column check refuses, is decoded line by line by ``schema.decode``, so what is refused, and the
reason, is exactly what the one-record decoder says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from rlops.events.schema import MAX_LIST_IN_METRICS, SCHEMA_VERSION, TRACE_ID, EventError, Record, decode, from_dict

ENVELOPE_KEYS = ("v", "type", "run_id", "trace_id", "seq", "t")
COUNTER_KEYS = ("env_steps", "opt_steps")  # non-negative integers
NUMBER_KEYS = ("wall_time_s", "sps")
FIELD_KEYS = frozenset((*ENVELOPE_KEYS, *COUNTER_KEYS, *NUMBER_KEYS))
_NUMBERS = frozenset((int, float))


@dataclass
class MetricsColumns:
    """Consecutive metrics records of one run with the same keys, as columns in log order (a
    missing optional counter is its default, as in ``Metrics``)."""

    run_id: str
    trace_id: str  # the first record's
    seq: Sequence[int]
    t: Sequence[float]
    env_steps: Sequence[int]
    opt_steps: Sequence[int]
    wall_time_s: Sequence[float]
    sps: Sequence[float]
    values: dict[str, Sequence[Any]]  # each named value, in the records' key order
    list_keys: frozenset[str] = field(default_factory=frozenset)  # values holding histograms (lists)

    type = "metrics"

    def __len__(self) -> int:
        return len(self.seq)

    def after(self, watermark: int) -> MetricsColumns | None:
        """The records with a ``seq`` above ``watermark`` (None when there are none)."""
        if min(self.seq) > watermark:
            return self
        keep = [i for i, seq in enumerate(self.seq) if seq > watermark]
        if not keep:
            return None
        pick = itemgetter(*keep) if len(keep) > 1 else (lambda column: (column[keep[0]],))
        return MetricsColumns(self.run_id, self.trace_id, pick(self.seq), pick(self.t), pick(self.env_steps),
                              pick(self.opt_steps), pick(self.wall_time_s), pick(self.sps),
                              {key: pick(column) for key, column in self.values.items()}, self.list_keys)


@dataclass
class DecodedLines:
    items: list[Record | MetricsColumns]  # in log order
    records: int = 0  # records in items (a MetricsColumns holds many)
    bad: int = 0  # lines that are not records (not JSON, or refused by the schema)


def decode_lines(lines: Sequence[bytes]) -> DecodedLines:
    """Decode complete log lines (without their newline; blank lines are skipped)."""
    out = DecodedLines([])
    group: list[dict[str, Any]] = []
    group_key: tuple[Any, ...] | None = None  # (run_id, number of keys): _close makes sure of the keys themselves
    loads = orjson.loads
    for line in lines:
        try:
            data = loads(line)
        except orjson.JSONDecodeError:
            data = None
        if type(data) is dict and data.get("type") == "metrics":
            key = (data.get("run_id"), len(data))
            if key != group_key:
                _close(group, out)
                group, group_key = [], key
            group.append(data)
            continue
        _close(group, out)
        group, group_key = [], None
        if data is None:
            if line.strip():
                _one(out, decode, line)  # what orjson refuses and the standard library may read
        else:
            _one(out, from_dict, data)
    _close(group, out)
    return out


def _one(out: DecodedLines, parse: Any, source: Any) -> None:
    try:
        out.items.append(parse(source))
    except EventError:
        out.bad += 1
        return
    out.records += 1


def _close(group: list[dict[str, Any]], out: DecodedLines) -> None:
    if not group:
        return
    try:
        columns = _columns(group) if len(group) > 1 else None
    except KeyError:  # as many keys, not the same ones: each run of the same keys on its own
        start = 0
        for end in range(1, len(group) + 1):
            if end == len(group) or group[end].keys() != group[start].keys():
                _close(group[start:end], out)
                start = end
        return
    if columns is None:  # one record, or a column refused: each line says for itself what is wrong
        for data in group:
            _one(out, from_dict, data)
        return
    out.items.append(columns)
    out.records += len(group)


def _columns(group: list[dict[str, Any]]) -> MetricsColumns | None:
    """The group as columns when every record passes ``from_dict``'s checks; None otherwise. The
    records have as many keys each: a KeyError says that they are not all the first one's."""
    keys = tuple(group[0])
    if not all(key in keys for key in ("v", "run_id", "trace_id", "seq", "t", "env_steps")):
        return None
    columns = {key: list(map(itemgetter(key), group)) for key in keys}
    run_id = group[0]["run_id"]
    if not isinstance(run_id, str) or not run_id or columns["v"].count(SCHEMA_VERSION) != len(group):
        return None
    try:
        if not all(isinstance(trace, str) and TRACE_ID.match(trace) for trace in set(columns["trace_id"])):
            return None
    except TypeError:  # an unhashable trace_id: not a string
        return None
    n = len(group)
    for key in ("seq", *COUNTER_KEYS):
        if key in columns and not _counts(columns[key]):
            return None
    for key in ("t", *NUMBER_KEYS):
        if key in columns and not _numbers(columns[key]):
            return None
    values: dict[str, Sequence[Any]] = {}
    lists = set()
    for key in keys:
        if key in FIELD_KEYS:
            continue
        column = columns[key]
        if not _numbers(column):
            if not all(_metric_value(value) for value in column):
                return None
            lists.add(key)
        values[key] = column
    return MetricsColumns(run_id, group[0]["trace_id"], columns["seq"], columns["t"], columns["env_steps"],
                          columns.get("opt_steps", (0,) * n), columns.get("wall_time_s", (0.0,) * n),
                          columns.get("sps", (0.0,) * n), values, frozenset(lists))


def _counts(column: Sequence[Any]) -> bool:
    """Every item an int (not a bool) >= 0."""
    return set(map(type, column)) == {int} and min(column) >= 0


def _numbers(column: Sequence[Any]) -> bool:
    """Every item a finite int or float (not a bool)."""
    if not set(map(type, column)) <= _NUMBERS:
        return False
    # A sum is finite when every item is, unless finite items overflow it: then look at each.
    return math.isfinite(sum(column)) or all(math.isfinite(value) for value in column)


def _metric_value(value: Any) -> bool:
    """``from_dict``'s rule for a named metrics value: a finite number or a short list of ints."""
    if type(value) is list:
        return len(value) <= MAX_LIST_IN_METRICS and all(type(item) is int for item in value)
    return type(value) in _NUMBERS and math.isfinite(value)
