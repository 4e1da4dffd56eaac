"""A metrics record's line is trusted without scanning it for ``null`` only when the sum of its
numbers proves them finite (issue 13, item 1): NaN or Inf in any numeric field, in any value, in
any form a producer hands it (NumPy scalars and arrays, pairs instead of a dict, a number too large
for a float beside a NaN) is still refused, and nulls that are data are still written.
"""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from rlops.events.schema import EventError, Metrics, decode, encode_bytes, encode_line

ENVELOPE = {"run_id": "r1", "trace_id": "0" * 31 + "1", "seq": 3, "t": 1764612345.25}
NAN, INF = float("nan"), float("inf")


def metrics(**fields) -> Metrics:
    return Metrics(**{**ENVELOPE, "env_steps": 10, "values": {"loss": 0.5}, **fields})


@pytest.mark.parametrize("fields", [
    {"t": NAN}, {"seq": INF}, {"env_steps": NAN}, {"opt_steps": -INF}, {"wall_time_s": NAN}, {"sps": INF},
    {"values": {"loss": 0.5, "reward": NAN}},
    {"values": {"loss": np.float32("nan")}},
    {"values": {"loss": np.float64("-inf")}},
    {"values": {"loss": np.array([NAN])}},  # a size-1 array sums to an array a float can be made of
    {"values": {"loss": np.array([1.0, NAN])}},  # a bigger one cannot: no proof, the line is scanned
    {"values": [("loss", NAN)]},  # pairs, not a dict: they have no .values()
    {"values": {"big": 10 ** 400, "loss": NAN}},  # the sum overflows a float before it meets the NaN
    {"values": {"hist": [1, 2, 3], "loss": INF}},  # a histogram makes the sum fail
    {"values": {"a": 1e308, "b": 1e308, "c": NAN}},  # finite values that overflow the sum, and a NaN
    {"trace_id": NAN},  # not a string: outside the sum, so no proof
], ids=repr)
def test_non_finite_numbers_anywhere_in_a_metrics_record_are_refused(fields):
    with pytest.raises(EventError, match="non-finite"):
        encode_bytes(metrics(**fields))
    with pytest.raises(EventError, match="non-finite"):
        encode_line(metrics(**fields))


@pytest.mark.parametrize("fields", [
    {"values": {"a": 1e308, "b": 1e308}},  # their sum is Inf, each is finite: scanned, and written
    {"values": {"loss": np.float32(0.25), "n": np.int64(3)}},
    {"values": {"hist": [0, 4, 1], "loss": 0.5}},
    {"values": {"big": 10 ** 30, "loss": 0.5}},  # beyond 64 bits: the standard encoder writes it
], ids=repr)
def test_finite_records_that_the_sum_cannot_prove_are_still_written(fields):
    record = metrics(**fields)
    expected = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.values.items()}
    got = decode(encode_bytes(record)).values
    assert got == (pytest.approx(expected) if "big" in expected else expected)  # orjson reads 10**30 as a float


def test_nulls_in_a_metrics_record_are_data_not_refusals():
    line = encode_bytes(metrics(values={"loss": 0.5, "note": None}))  # no proof (None): scanned, kept
    assert orjson.loads(line)["note"] is None


def test_the_proof_changes_no_byte():
    record = metrics(values={"loss": 0.125, "reward_mean": -3.5, "n": 7})
    line = encode_line(record)
    assert line.endswith(b"\n") and line[:-1] == encode_bytes(record)
    assert orjson.loads(line) == {"v": 1, "type": "metrics", **ENVELOPE, "env_steps": 10, "opt_steps": 0,
                                  "wall_time_s": 0.0, "sps": 0.0, "loss": 0.125, "reward_mean": -3.5, "n": 7}
