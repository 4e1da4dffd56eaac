"""docs/events.md stays true to the schema: its examples decode and validate, its field tables are generated
from the record classes, and what is required is said once (a field without a default)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from rlops.events.doc import meanings, rewrite
from rlops.events.schema import (
    ENVELOPE,
    JSON_NAMES,
    RECORD_TYPES,
    EventError,
    Record,
    decode,
    from_dict,
    required_fields,
)
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


def test_the_field_tables_are_generated_from_the_record_classes():
    assert doc() == rewrite(doc()), "docs/events.md's tables are stale: run python -m rlops.events.doc docs/events.md"


def test_a_required_field_is_one_without_a_default_and_a_line_without_it_is_refused():
    """The schema says once what is required: no default in the class, refused when absent."""
    for line in example_lines():
        data = json.loads(line)
        cls = RECORD_TYPES[data["type"]]
        defaults = {item.name for item in dataclasses.fields(cls) if item.default is not dataclasses.MISSING
                    or item.default_factory is not dataclasses.MISSING}
        for name in required_fields(cls):
            assert name not in defaults
            json_name = JSON_NAMES.get(name, name)
            with pytest.raises(EventError, match=f"{data['type']} record lacks '{json_name}'"):
                from_dict({key: value for key, value in data.items() if key != json_name})
            with pytest.raises(TypeError):
                cls(**{key: value for key, value in vars(decode(line)).items() if key != name})
        for name in set(data) - set(ENVELOPE) - {JSON_NAMES.get(name, name) for name in required_fields(cls)}:
            if name in {JSON_NAMES.get(item.name, item.name) for item in dataclasses.fields(cls)}:
                from_dict({key: value for key, value in data.items() if key != name})  # optional: still a record


def test_types_are_checked_from_the_type_hints_with_the_messages_of_before():
    line = json.loads(example_lines()[1])  # an episode
    for field_name, value, expected in (("length", -1, "int"), ("length", 2.5, "int"), ("return", "high", "float"),
                                        ("success", "yes", "bool | None"), ("env_index", True, "int")):
        with pytest.raises(EventError) as refused:
            from_dict({**line, field_name: value})
        assert str(refused.value.message) == (f"episode.{field_name} has the wrong type or value: {value!r} "
                                              f"(expected {expected})")
    assert decode(json.dumps({**line, "success": None})).success is None  # bool | None takes null


def test_every_field_has_its_meaning_in_its_class_docstring():
    envelope = {item.name for item in dataclasses.fields(Record)}
    for cls in RECORD_TYPES.values():
        assert set(meanings(cls)) == {item.name for item in dataclasses.fields(cls)} - envelope, cls.__name__
