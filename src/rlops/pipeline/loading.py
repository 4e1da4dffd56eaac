"""Loading a checkpoint for evaluation or inference: the options it carries name the engine that
rebuilds env and model (``sb3.loading``, ``vector.agent``) and restores the policy and the
normalization statistics it was trained with; an exported TorchScript graph loads on its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from rlops.errors import CheckpointCorruptError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, read_checkpoint
from rlops.pipeline.engine import engine_named

EVAL_SEED_OFFSET = 10_000  # evaluation episodes never replay the training seeds


@dataclass
class LoadedPolicy:
    checkpoint: Checkpoint
    options: Options
    model: BaseAlgorithm
    venv: VecEnv

    def close(self) -> None:
        self.venv.close()


def open_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint directory, or a run directory (its newest intact checkpoint)."""
    path = Path(path)
    if (path / "checkpoints").is_dir():
        return latest_checkpoint(path / "checkpoints")
    if path.is_dir() and not (path / "manifest.json").exists() and any(path.glob("step-*")):
        return latest_checkpoint(path)
    return read_checkpoint(path)


def load_policy(checkpoint: Checkpoint, device: str = "auto", n_envs: int = 1,
                render_mode: str | None = None) -> LoadedPolicy:
    try:
        options = Options.model_validate(checkpoint.options)
    except Exception as exc:  # pydantic's error, on a manifest written by another version
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} carries options this rlops cannot read: {exc}") from None
    options.train.device = device
    options.env.vectorization = "sync"
    if checkpoint.manifest.get("policy_format") == "torchscript":  # an exported graph: the offline runner's
        from rlops.pipeline.torchscript_policy import load_torchscript_policy

        return load_torchscript_policy(checkpoint, options, n_envs, render_mode)
    return engine_named(options.train.engine).load(checkpoint, options, device, n_envs, render_mode)
