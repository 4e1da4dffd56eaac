"""A record's JSON object (schema.to_dict), generated per type, against the rule docs/events.md
states: the envelope, then each field not None in order (``return`` for ``episode_return``), a
metrics record's values flattened at the end, in their order, overriding a field of the same name."""

from __future__ import annotations

import dataclasses

import pytest

from rlops.events.schema import ENVELOPE, JSON_NAMES, RECORD_TYPES, Metrics, encode_line, to_dict

SAMPLES = {int: 3, float: 1.5, str: "x", bool: True, dict: {"a": 1}, list: [1, 2]}


def _reference(record) -> list:
    data = {"v": 1, "type": record.type}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if item.name == "values":
            data.update(value)
        elif item.name in ENVELOPE or value is not None:
            data[JSON_NAMES.get(item.name, item.name)] = value
    return list(data.items())


def _sample(hint: str):
    for kind, value in SAMPLES.items():
        if hint.startswith(kind.__name__):
            return value
    return {"any": 1}


def _records(cls):
    fields = [item for item in dataclasses.fields(cls) if item.name not in ENVELOPE]
    full = {item.name: _sample(str(item.type)) for item in fields}
    if cls is Metrics:
        full["values"] = {"loss": 0.5, "sps": 7.0, "hist": [1, 2]}
    yield cls(run_id="r", trace_id="ab" * 16, seq=4, t=2.0, **full)
    for item in fields:  # each field None in turn, even where its type says it is never None
        if item.name != "values":
            yield cls(run_id="r", trace_id="ab" * 16, seq=4, t=2.0, **{**full, item.name: None})


@pytest.mark.parametrize("kind", sorted(RECORD_TYPES))
def test_each_record_type_becomes_the_object_the_schema_describes(kind):
    for record in _records(RECORD_TYPES[kind]):
        assert list(to_dict(record).items()) == _reference(record)


def test_values_given_as_pairs_are_flattened_as_a_dict_is():
    record = Metrics(run_id="r", trace_id="ab" * 16, env_steps=1, values=[("loss", 0.5)])  # type: ignore[arg-type]
    assert to_dict(record)["loss"] == 0.5
    assert encode_line(record).endswith(b'"loss":0.5}\n')
