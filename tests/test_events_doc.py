"""docs/events.md stays true to the schema: its examples decode and validate, every field is described."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from rlops.events.schema import ENVELOPE, JSON_NAMES, RECORD_TYPES, Record, decode
from rlops.events.validate import ANOMALY_KINDS, validate_log

DOC = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def example_lines() -> list[str]:
    blocks = re.findall(r"^```jsonl\n(.*?)^```$", doc(), flags=re.MULTILINE | re.DOTALL)
    assert blocks, "docs/events.md has no ```jsonl example"
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def section(record_type: str) -> str:
    match = re.search(rf"^### `{record_type}`\n(.*?)(?=^##)", doc(), flags=re.MULTILINE | re.DOTALL)
    assert match, f"docs/events.md has no section '### `{record_type}`'"
    return match.group(1)


def test_every_example_line_decodes():
    for line in example_lines():
        decode(line)  # raises EventError, naming the field, when a line breaks the schema


def test_the_examples_form_one_valid_run_log(tmp_path):
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(line + "\n" for line in example_lines()), encoding="utf-8")
    report = validate_log(path)
    assert report.anomalies == []
    assert len(report.runs) == 1 and report.first_seq == 0 and report.last_seq == report.records - 1
    times = [decode(line).t for line in example_lines()]
    assert times == sorted(times)


def test_every_record_type_has_an_example():
    shown = {decode(line).type for line in example_lines()}
    assert shown == set(RECORD_TYPES)


def test_every_field_is_described_in_its_section():
    envelope = re.search(r"^## The envelope\n(.*?)(?=^##)", doc(), flags=re.MULTILINE | re.DOTALL).group(1)
    assert all(f"| `{name}` |" in envelope for name in ENVELOPE)
    inherited = {item.name for item in dataclasses.fields(Record)}
    for record_type, cls in RECORD_TYPES.items():
        text = section(record_type)
        for item in dataclasses.fields(cls):
            if item.name not in inherited:
                json_name = JSON_NAMES.get(item.name, item.name)
                assert f"`{json_name}`" in text, f"{record_type}.{json_name} is not described"
                assert f"`{item.name}`" in text, f"{record_type}: the Python name {item.name!r} is not mentioned"


def test_every_anomaly_kind_is_described():
    for kind in ANOMALY_KINDS:
        assert f"| `{kind}` |" in doc(), kind
