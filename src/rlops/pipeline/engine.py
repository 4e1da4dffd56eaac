"""The training engines behind ``train.engine``: one small interface, two implementations.

``sb3`` is Stable-Baselines3 (every algorithm; ``train.py``, ``loading.py``); ``vector`` is
rlops's own PPO/A2C over batched envs (``vector/``). Both leave the same run directory, log,
checkpoints and registry rows; a checkpoint's options name the engine that loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rlops.errors import UnknownNameError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint

if TYPE_CHECKING:
    from rlops.pipeline.loading import LoadedPolicy
    from rlops.pipeline.train import TrainResult


class TrainingEngine(Protocol):
    name: str

    def train(self, options: Options, progress: bool) -> TrainResult: ...

    def load(self, checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
             render_mode: str | None) -> LoadedPolicy: ...


class VectorEngine:
    name = "vector"

    def train(self, options: Options, progress: bool) -> TrainResult:
        from rlops.pipeline.vector.session import train_vector

        return train_vector(options, progress)

    def load(self, checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
             render_mode: str | None) -> LoadedPolicy:
        from rlops.pipeline.vector.agent import load_vector_policy

        return load_vector_policy(checkpoint, options, device, n_envs, render_mode)


ENGINES: dict[str, TrainingEngine] = {"vector": VectorEngine()}
BUILT_IN = "sb3"  # train.py and loading.py themselves


def engine_named(name: str) -> TrainingEngine | None:
    """The engine for ``train.engine``; None for the built-in SB3 path."""
    if name == BUILT_IN:
        return None
    if name not in ENGINES:
        raise UnknownNameError("training engine", name, (BUILT_IN, *ENGINES))
    return ENGINES[name]
