"""The accumulator's per-step fast path for big host batches (above HOLD_ENVS envs, issue 13.4)
gives the record the general path gives: every input form, mixed forms in one step, binary
action histograms folded per window, many envs ending on the same step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlops.events.accumulator import HOLD_ENVS, MetricsAccumulator

ENVS = 2048


def steps(count: int = 6, envs: int = ENVS, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        terminated = rng.random(envs) < (0.9 if i == 2 else 0.05)  # step 2: most envs end at once
        truncated = ~terminated & (rng.random(envs) < 0.03)
        out.append({"rewards": rng.normal(1.0, 2.0, envs).astype(np.float32), "terminated": terminated,
                    "truncated": truncated, "resets": terminated | truncated, "actions": rng.integers(0, 2, envs),
                    "values": rng.normal(0.5, 3.0, (envs, 1)).astype(np.float32),
                    "logits": rng.normal(0.0, 1.5, (envs, 2)).astype(np.float32),
                    "successes": terminated & (rng.random(envs) < 0.5), "infos": {"x": rng.normal(0.0, 1.0, envs)}})
    return out


def record(batches: list[dict], **kwargs) -> dict:
    accumulator = MetricsAccumulator(info_keys=("x",), n_actions=2, reward_percentiles=True,
                                     sample_size=ENVS * 8, rows_per_step=ENVS, **kwargs)
    for batch in batches:
        accumulator.update(**batch)
    return accumulator.take_window(len(batches) * ENVS, 3, wall_time_s=2.0)


def test_big_host_batches_give_the_reference_record():
    batches = steps()
    got = record(batches)
    cat = {key: np.concatenate([b[key].reshape(-1) for b in batches]) for key in batches[0] if key != "infos"}
    n = len(cat["rewards"])
    assert n > HOLD_ENVS * len(batches)
    assert got["done_rate"] == cat["terminated"].sum() / n and got["trunc_rate"] == cat["truncated"].sum() / n
    assert got["reset_rate"] == cat["resets"].sum() / n
    assert got["success_rate"] == cat["successes"].sum() / (cat["terminated"].sum() + cat["truncated"].sum())
    assert got["reward_mean"] == pytest.approx(cat["rewards"].astype(np.float64).mean(), rel=1e-6)
    assert got["value_mean"] == pytest.approx(cat["values"].astype(np.float64).mean(), rel=1e-6)
    assert got["value_std"] == pytest.approx(cat["values"].astype(np.float64).std(), rel=1e-6)
    assert got["action_hist"] == np.bincount(cat["actions"], minlength=2).tolist()
    x = np.concatenate([b["infos"]["x"] for b in batches])
    assert got["x_p50"] == np.quantile(x, 0.5) and got["reward_p90"] == np.quantile(cat["rewards"].astype(np.float64), 0.9)


def test_mixed_input_forms_in_one_step_give_the_same_record():
    # Host arrays, CPU tensors, a tensor that requires grad (no zero-copy view: the general path),
    # and Python lists (converted): each quantity goes its own way, the record is the same, bit for bit.
    batches = steps()
    mixed = []
    for b in batches:
        m = dict(b)
        m["rewards"] = torch.as_tensor(b["rewards"])
        m["values"] = torch.as_tensor(b["values"]).requires_grad_(True)
        m["actions"] = b["actions"].tolist()
        m["terminated"] = torch.as_tensor(b["terminated"])
        m["infos"] = {"x": torch.as_tensor(b["infos"]["x"])}
        mixed.append(m)
    assert record(mixed) == record(batches)


def test_binary_action_counts_belong_to_their_own_window():
    batches = steps()
    accumulator = MetricsAccumulator(n_actions=2)
    for b in batches[:2]:
        accumulator.update(b["rewards"], b["terminated"], b["truncated"], actions=b["actions"])
    first = accumulator.take_window(2 * ENVS, wall_time_s=1.0)
    accumulator.update(batches[2]["rewards"], batches[2]["terminated"], batches[2]["truncated"],
                       actions=np.ones(ENVS, dtype=np.int64))
    second = accumulator.take_window(3 * ENVS, wall_time_s=2.0)
    assert first["action_hist"] == np.bincount(np.concatenate([b["actions"] for b in batches[:2]]), minlength=2).tolist()
    assert second["action_hist"] == [0, ENVS]
    assert "action_hist" not in accumulator.take_window(3 * ENVS, wall_time_s=3.0)  # an empty window


def test_a_step_where_nearly_every_env_ends_is_counted_exactly():
    batch = steps()[2]
    accumulator = MetricsAccumulator()
    accumulator.update(batch["rewards"], batch["terminated"], batch["truncated"], resets=batch["resets"],
                       successes=batch["successes"])
    got = accumulator.take_window(ENVS, wall_time_s=1.0)
    ended = int(batch["terminated"].sum() + batch["truncated"].sum())
    assert ended > 0.9 * ENVS
    assert got["done_rate"] == batch["terminated"].sum() / ENVS
    assert got["reset_rate"] == ended / ENVS and got["success_rate"] == batch["successes"].sum() / ended
