"""The accumulator gives one record whatever form its inputs take, and its once-per-record math
keeps its temporaries small (issue 13.4).

torch CPU tensors are read as NumPy views, so they must give exactly the NumPy record, bit for
bit, with few envs (held and reduced together) and many (reduced every step, strided samples).
The record's math runs in blocks: a temporary of 128 KiB or more is mapped and page-faulted in
anew each time (glibc hands it back to the OS when freed), which made one record at 16,384 envs
cost more than its 100 steps of sums.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from rlops.events.accumulator import MetricsAccumulator
from rlops.events.metrics_math import HOST_OPS


def steps(envs: int, actions: int, count: int = 12, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        terminated = rng.random(envs) < 0.05
        truncated = ~terminated & (rng.random(envs) < 0.02)
        out.append({"rewards": rng.normal(1.0, 2.0, envs).astype(np.float32), "terminated": terminated,
                    "truncated": truncated, "resets": terminated | truncated, "actions": rng.integers(0, actions, envs),
                    "values": rng.normal(0.5, 3.0, envs).astype(np.float32),
                    "logits": rng.normal(0.0, 1.5, (envs, actions)).astype(np.float32),
                    "successes": terminated & (rng.random(envs) < 0.5), "infos": {"x": rng.normal(0.0, 1.0, envs)}})
    return out


def as_torch(step: dict) -> dict:
    out = {key: torch.as_tensor(value) for key, value in step.items() if key != "infos"}
    out["infos"] = {key: torch.as_tensor(value) for key, value in step["infos"].items()}
    return out


def records(batches: list[dict], actions: int, every: int = 4) -> list[dict]:
    accumulator = MetricsAccumulator(info_keys=("x",), n_actions=actions, reward_percentiles=True, rows_per_step=256)
    out = []
    for i, batch in enumerate(batches):
        accumulator.update(**batch)
        if (i + 1) % every == 0:
            out.append(accumulator.take_window((i + 1) * len(batch["rewards"]), i, wall_time_s=float(i + 1)))
    return out


@pytest.mark.parametrize(("envs", "actions"), [(8, 2), (300, 2), (4096, 2), (1000, 18)])
def test_torch_cpu_tensors_give_exactly_the_numpy_record(envs, actions):
    batches = steps(envs, actions)
    from_numpy = records(batches, actions)
    from_torch = records([as_torch(batch) for batch in batches], actions)
    assert from_torch == from_numpy  # every field, bit for bit
    assert {"entropy_mean", "x_p50", "reward_p90", "value_std", "success_rate"} <= set(from_numpy[-1])


def test_the_strided_sample_is_a_copy_of_every_nth_row():
    logits = np.arange(40, dtype=np.float32).reshape(20, 2)
    sample = HOST_OPS.every_nth_row(logits, 3)
    assert np.array_equal(sample, logits[::3]) and sample.flags.c_contiguous
    logits[:] = -1  # producers reuse their buffers: the sample must not change with them
    assert sample[1].tolist() == [6.0, 7.0]
    flat = np.arange(10.0)
    assert np.array_equal(HOST_OPS.every_nth_row(flat, 4), flat[::4])


@pytest.mark.parametrize("actions", [2, 5, 18])
def test_entropy_in_blocks_matches_the_formula(actions):
    rng = np.random.default_rng(actions)
    logits = rng.normal(0.0, 2.0, (9000, actions)).astype(np.float32)  # several blocks, the last one short
    wide = logits.astype(np.float64)
    p = np.exp(wide - wide.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert HOST_OPS.entropy_from_logits(logits) == pytest.approx(float(-(p * np.log(p)).sum(axis=1).mean()), rel=1e-12)


def test_a_record_at_16384_envs_keeps_its_temporaries_small():
    batches = steps(16384, 2, count=8)
    accumulator = MetricsAccumulator(info_keys=("x",), n_actions=2, reward_percentiles=True)
    for batch in batches:
        accumulator.update(**batch)
    accumulator.take_window(8 * 16384, wall_time_s=0.5)  # the first record ever: NumPy's lazy imports
    for batch in batches:
        accumulator.update(**batch)
    tracemalloc.start()
    try:
        record = accumulator.take_window(8 * 16384, wall_time_s=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "entropy_mean" in record and "x_p50" in record
    # The samples hold 8,192 rows: 64 KiB of float32 logits and 64 KiB per float64 quantity. Their
    # joined copy and per-row entropies are that again; blocks of the math add 32 KiB temporaries.
    # (Unblocked, the float64 logits and their exp and products were 128 KiB each: peak 770 KiB.)
    assert peak < 320 * 1024, peak
