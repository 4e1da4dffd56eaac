"""The accumulator against a plain NumPy reference, on random batches, for NumPy and torch input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlops.events import accumulator as accumulator_module
from rlops.events.accumulator import MetricsAccumulator

ENVS, STEPS, ACTIONS = 64, 30, 4


def batches(seed: int = 0, envs: int = ENVS):
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        terminated = rng.random(envs) < 0.05
        truncated = ~terminated & (rng.random(envs) < 0.02)
        yield {
            "rewards": rng.normal(1.0, 2.0, envs).astype(np.float32),
            "terminated": terminated,
            "truncated": truncated,
            "resets": terminated | truncated,
            "actions": rng.integers(0, ACTIONS, envs),
            "values": rng.normal(0.5, 3.0, envs).astype(np.float32),
            "logits": rng.normal(0.0, 1.5, (envs, ACTIONS)).astype(np.float32),
            "successes": (terminated | truncated) & (rng.random(envs) < 0.5),
            "infos": {"dist": rng.exponential(2.0, envs)},
        }


def reference(steps: list[dict]) -> dict[str, float]:
    cat = {key: np.concatenate([s[key] for s in steps]) for key in steps[0] if key != "infos"}
    n = len(cat["rewards"])
    logits = cat["logits"].astype(np.float64)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    dist = np.concatenate([s["infos"]["dist"] for s in steps])
    ended = cat["terminated"].sum() + cat["truncated"].sum()
    return {
        "done_rate": cat["terminated"].sum() / n,
        "trunc_rate": cat["truncated"].sum() / n,
        "reset_rate": cat["resets"].sum() / n,
        "success_rate": cat["successes"].sum() / ended,
        "reward_mean": cat["rewards"].astype(np.float64).mean(),
        "reward_p10": np.quantile(cat["rewards"].astype(np.float64), 0.1),
        "reward_p90": np.quantile(cat["rewards"].astype(np.float64), 0.9),
        "value_mean": cat["values"].astype(np.float64).mean(),
        "value_std": cat["values"].astype(np.float64).std(),
        "entropy_mean": float(-(p * np.log(p)).sum(axis=1).mean()),
        "dist_p10": np.quantile(dist, 0.1),
        "dist_p50": np.quantile(dist, 0.5),
        "dist_p90": np.quantile(dist, 0.9),
    }


def as_torch(batch: dict) -> dict:
    out = {key: torch.as_tensor(value) for key, value in batch.items() if key != "infos"}
    out["infos"] = {key: torch.as_tensor(value) for key, value in batch["infos"].items()}
    return out


# 8 and 64 envs: NumPy batches held and reduced together; 300: reduced every step (above
# HOLD_ENVS); "8-flushing": held batches reduced every HOLD_ROWS rows within one window.
@pytest.mark.parametrize("envs", [8, 64, 300, "8-flushing"])
@pytest.mark.parametrize("kind", ["numpy", "torch-cpu", "torch-device-path"])
def test_every_quantity_matches_the_numpy_reference(kind, envs, monkeypatch):
    if envs == "8-flushing":
        monkeypatch.setattr(accumulator_module, "HOLD_ROWS", 40)
        envs = 8
    steps = list(batches(envs=envs))
    accumulator = MetricsAccumulator(info_keys=("dist",), n_actions=ACTIONS, reward_percentiles=True,
                                     numpy_for_cpu_tensors=kind != "torch-device-path",
                                     sample_size=envs * STEPS)  # every row sampled: percentiles exact

    for batch in steps:
        accumulator.update(**(batch if kind == "numpy" else as_torch(batch)))
    record = accumulator.take_window(env_steps=envs * STEPS, opt_steps=7, wall_time_s=2.0)
    expected = reference(steps)
    for key, value in expected.items():
        assert record[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key
    actions = np.concatenate([s["actions"] for s in steps])
    assert record["action_hist"] == np.bincount(actions, minlength=ACTIONS).tolist()
    assert record["env_steps"] == envs * STEPS and record["opt_steps"] == 7
    assert record["sps"] == pytest.approx(envs * STEPS / 2.0)
    assert all(type(v) in (int, float, list) for v in record.values())


def test_log_probs_estimate_entropy_when_no_logits():
    rng = np.random.default_rng(1)
    accumulator = MetricsAccumulator()
    log_probs = [np.log(rng.uniform(0.1, 0.9, 16)) for _ in range(5)]
    for lp in log_probs:
        accumulator.update(np.ones(16), np.zeros(16, bool), np.zeros(16, bool), log_probs=torch.as_tensor(lp))
    record = accumulator.take_window(80, wall_time_s=1.0)
    assert record["entropy_mean"] == pytest.approx(-np.concatenate(log_probs).mean())


def test_windows_reset_and_sps_counts_only_the_window():
    accumulator = MetricsAccumulator()
    accumulator.update(np.ones(8), np.zeros(8, bool), np.zeros(8, bool))
    first = accumulator.take_window(8, wall_time_s=1.0)
    for _ in range(3):
        accumulator.update(np.full(8, 3.0), np.ones(8, bool), np.zeros(8, bool))
    second = accumulator.take_window(32, wall_time_s=1.5)
    assert first["reward_mean"] == 1.0 and first["done_rate"] == 0.0
    assert second["reward_mean"] == 3.0 and second["done_rate"] == 1.0
    assert second["sps"] == pytest.approx(24 / 0.5)
    empty = accumulator.take_window(32, wall_time_s=2.0)
    assert empty["sps"] == second["sps"] and "reward_mean" not in empty  # a record of losses only


def test_the_sample_keeps_the_newest_values_within_its_budget():
    accumulator = MetricsAccumulator(info_keys=("x",), sample_size=100)
    for step in range(50):
        accumulator.update(np.zeros(10), np.zeros(10, bool), np.zeros(10, bool), infos={"x": np.full(10, step)})
    record = accumulator.take_window(500, wall_time_s=1.0)
    assert record["x_p10"] >= 40 and 48 <= record["x_p90"] <= 49  # only the last ~10 steps remain


def test_non_finite_results_are_dropped_and_counted():
    accumulator = MetricsAccumulator()
    accumulator.update(np.array([1.0, np.nan]), np.zeros(2, bool), np.zeros(2, bool), values=np.array([np.inf, 1.0]))
    record = accumulator.take_window(2, wall_time_s=1.0)
    assert "reward_mean" not in record and "value_mean" not in record
    assert record["nonfinite"] == 3 and record["done_rate"] == 0.0


def test_histogram_grows_when_the_action_count_is_unknown():
    accumulator = MetricsAccumulator()
    accumulator.update(np.zeros(3), np.zeros(3, bool), np.zeros(3, bool), actions=np.array([0, 1, 1]))
    accumulator.update(np.zeros(3), np.zeros(3, bool), np.zeros(3, bool), actions=np.array([3, 3, 0]))
    assert accumulator.take_window(6, wall_time_s=1.0)["action_hist"] == [2, 2, 0, 2]


class CountingTensor(torch.Tensor):
    """A tensor that counts host transfers (``.cpu()``, ``.tolist()``, ``.item()``, ``float()``)."""

    transfers = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("cpu", "tolist", "item", "__float__", "__bool__", "numpy", "__int__"):
            CountingTensor.transfers += 1
        return super().__torch_function__(func, types, args, kwargs or {})


def test_one_host_transfer_per_record():
    # The device path (what a CUDA run takes), exercised here on CPU tensors that count transfers.
    accumulator = MetricsAccumulator(info_keys=("dist",), n_actions=ACTIONS, reward_percentiles=True,
                                     numpy_for_cpu_tensors=False)
    CountingTensor.transfers = 0
    for batch in batches():
        tensors = {key: value.as_subclass(CountingTensor) if isinstance(value, torch.Tensor) else value
                   for key, value in as_torch(batch).items()}
        tensors["infos"] = {k: v.as_subclass(CountingTensor) for k, v in tensors["infos"].items()}
        accumulator.update(**tensors)
    assert CountingTensor.transfers == 0  # nothing leaves the device while stepping
    accumulator.take_window(ENVS * STEPS, wall_time_s=1.0)
    assert CountingTensor.transfers == 1
