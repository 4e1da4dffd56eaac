"""The orjson encoder keeps every guarantee of the standard library's (issue 13, item 1).

No NaN or Inf ever reaches a log (orjson would write them as ``null``); records the standard
encoder wrote read back the same; ordinary records are byte for byte what it wrote; what orjson
cannot take (an int beyond 64 bits) still encodes.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rlops.events.schema import _ENCODER, End, Episode, EventError, Meta, Metrics, Step, decode, encode, encode_bytes

ENVELOPE = {"run_id": "r1", "trace_id": "0" * 31 + "1", "seq": 3, "t": 1764612345.25}


def standard(record) -> str:
    """What the standard library's encoder wrote before (the same object, ``allow_nan=False``)."""
    from rlops.events.schema import to_dict

    return _ENCODER.encode(to_dict(record))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float32("nan"), np.float64("inf")])
@pytest.mark.parametrize("where", ["metrics value", "episode return", "nested in meta config", "step obs"])
def test_non_finite_numbers_never_reach_a_log(bad, where):
    record = {
        "metrics value": lambda: Metrics(**ENVELOPE, env_steps=1, values={"loss": 1.0, "reward_mean": bad}),
        "episode return": lambda: Episode(**ENVELOPE, episode_return=bad, length=3),
        "nested in meta config": lambda: Meta(**ENVELOPE, config={"train": {"lr": bad, "note": None}}),
        "step obs": lambda: Step(**ENVELOPE, step=1, reward=0.0, obs={"x": bad}),
    }[where]()
    with pytest.raises(EventError, match="non-finite"):
        encode_bytes(record)


def test_nulls_that_are_data_are_kept():
    record = Meta(**ENVELOPE, config={"store": {"tracking_uri": None}, "name": "null"})
    assert decode(encode(record)).config == {"store": {"tracking_uri": None}, "name": "null"}


def test_ordinary_records_are_byte_for_byte_what_the_standard_encoder_wrote():
    records = [
        Metrics(**ENVELOPE, env_steps=2048, opt_steps=10, wall_time_s=1.5, sps=1365.25,
                values={"train/value_loss": 0.125, "entropy_mean": 0.6931, "action_hist": [3, 5]}),
        Episode(**ENVELOPE, env_index=1, episode=7, episode_return=-1612.5, length=200, env_steps=1400),
        End(**ENVELOPE, status="stopped", reason="interrupted", env_steps=100, dropped={"mlflow": 12}),
    ]
    for record in records:
        assert encode(record) == standard(record)


def test_what_differs_is_spelling_only_and_reads_back_the_same():
    record = Meta(**ENVELOPE, config={"lr": 1e-05, "big": 1e22, "name": "CartPole-é", "huge": 2**70})
    line = encode(record)  # 2**70 is beyond orjson: the standard encoder takes the record
    old = standard(record)
    assert json.loads(line) == json.loads(old)
    assert decode(line).config == decode(old).config == record.config


def test_old_logs_still_read():
    old = json.dumps({"v": 1, "type": "episode", **ENVELOPE, "return": 12.0, "length": 12,
                      "note_\u00e9": None}, ensure_ascii=True)
    with pytest.raises(EventError, match="unknown fields"):  # unknown fields are refused, as before
        decode(old)
    old = json.dumps({"v": 1, "type": "meta", **ENVELOPE, "config": {"name": "caf\u00e9 \ud83d\ude00"}})
    assert decode(old).config["name"] == "café 😀"
    lone = '{"v":1,"type":"meta","run_id":"r1","trace_id":"%s","seq":0,"t":1.0,"config":{"x":"\\ud800"}}' % ("0" * 32)
    assert decode(lone).config["x"] == "\ud800"  # orjson refuses a lone surrogate; the standard library reads it


def test_non_finite_numbers_in_a_line_are_refused_on_read():
    line = '{"v":1,"type":"episode","run_id":"r1","trace_id":"%s","seq":0,"t":1.0,"return":NaN,"length":1}' % ("0" * 32)
    with pytest.raises(EventError, match="non-finite|not valid JSON"):
        decode(line)


def test_numpy_values_encode_as_numbers():
    record = Metrics(**ENVELOPE, env_steps=1, values={"a": np.float32(0.5), "b": np.int64(3)})
    assert decode(encode(record)).values == {"a": 0.5, "b": 3}
    assert math.isfinite(decode(encode(record)).values["a"])
