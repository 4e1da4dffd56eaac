"""The vector trainer's device path moves data to the host once per record: nothing while
stepping or updating but the env's own action transfer, then one transfer at the record.

The device path (what a CUDA run takes) is exercised on CPU tensors that count host transfers,
as the accumulator's own test does: every tensor the envs return is one, and so is everything
computed from them (observations, actions, values, rewards, losses).
"""

from __future__ import annotations

import torch

from rlops.events.accumulator import MetricsAccumulator
from rlops.options.schema import Options
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.loop import VectorLearner
from rlops.pipeline.vector.telemetry import RolloutTelemetry

HOST = ("cpu", "tolist", "item", "__float__", "__bool__", "numpy", "__int__", "__index__", "__array__")


class CountingTensor(torch.Tensor):
    transfers: list[str] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in HOST:
            CountingTensor.transfers.append(name)
        return super().__torch_function__(func, types, args, kwargs or {})


class DevicePathEnv(BatchedEnv):
    """CartPole's batched env, taking the device path: its outputs are counting tensors."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._to_device = True  # actions go through .cpu().numpy(), as from a GPU

    def _tensor(self, array, dtype):
        return super()._tensor(array, dtype).as_subclass(CountingTensor)


def test_one_host_transfer_per_record_on_the_device_path():
    options = Options()
    options.env.n_envs, options.train.total_timesteps = 64, 10_000
    options.agent.hyperparams = {"n_steps": 8, "n_epochs": 2, "n_minibatches": 2}
    options.obs.normalize = "all"
    params = hyperparams_of(options)
    device = torch.device("cpu")
    env = DevicePathEnv(options.env, 64, 0, device)
    learner = VectorLearner(env, params, "all", 10.0, 10_000, device)
    accumulator = MetricsAccumulator(n_actions=2, reward_percentiles=True, numpy_for_cpu_tensors=False)
    telemetry = RolloutTelemetry(None, accumulator, 64, params.n_steps, device)
    learner.start(0)
    for _ in range(2):
        CountingTensor.transfers.clear()
        learner.collect(telemetry)
        # The env's action transfer (.cpu(), then its zero-copy .numpy()), once a step; nothing else.
        assert CountingTensor.transfers == ["cpu", "numpy"] * params.n_steps
        CountingTensor.transfers.clear()
        stats = learner.update()
        assert CountingTensor.transfers == []  # the whole update stays on the device
        record = telemetry.record(learner.num_timesteps, learner.n_updates, stats)
        assert CountingTensor.transfers == ["tolist"]  # the record: ONE transfer, losses and episodes included
        assert "train/value_loss" in record and "reward_p50" in record and sum(record["action_hist"]) == 512
    env.close()
