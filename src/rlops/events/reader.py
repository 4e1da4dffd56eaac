"""Reading a run's JSONL log tolerantly: every complete record, and what could not be read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rlops.events.schema import EventError, Record, decode


@dataclass
class BadLine:
    line: int
    reason: str


def read_records(path: Path) -> Iterator[tuple[int, Record | BadLine]]:
    """(line number, record or the reason it is not one); never raises for bad content."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                yield number, decode(raw)
            except EventError as exc:
                yield number, BadLine(number, exc.message)
