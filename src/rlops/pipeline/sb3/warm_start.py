"""Warm start of an SB3 model (``train.init_from``): the policy weights and normalization
statistics of another model of the same algorithm, loaded into the freshly built one; the
optimizer and counters start anew (it is a new run)."""

from __future__ import annotations

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from rlops.errors import CheckpointCorruptError, IncompatibleChoiceError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.sb3.agent_state import restore_agent
from rlops.pipeline.torchscript_init import warm_start_sb3
from rlops.pipeline.torchscript_policy import is_torchscript


def apply_init(model: BaseAlgorithm, venv: VecEnv, checkpoint: Checkpoint, options: Options) -> None:
    if is_torchscript(checkpoint):  # an offline model: its exported network, where it fits (torchscript_init)
        warm_start_sb3(model, checkpoint, options)
        return
    saved = checkpoint.options
    if saved["agent"]["algorithm"] != options.agent.algorithm:
        raise IncompatibleChoiceError(f"train.init_from is a {saved['agent']['algorithm']} model; this run trains "
                                      f"{options.agent.algorithm}", hint=f"train with --agent.algorithm "
                                                                         f"{saved['agent']['algorithm']}")
    try:
        restore_agent(model, venv, checkpoint, with_training_state=False)
    except CheckpointCorruptError as exc:
        raise IncompatibleChoiceError(
            f"train.init_from {checkpoint.path} does not fit this run's network: {exc.message}",
            hint=f"use the options it was trained with: agent.net_arch {saved['agent'].get('net_arch')}, "
                 f"feature.encoder {saved.get('feature', {}).get('encoder')}, obs {saved.get('obs')}") from None
