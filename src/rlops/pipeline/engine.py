"""The training engines behind ``train.engine``: one small interface, two implementations.

``sb3`` is Stable-Baselines3 (every algorithm; ``sb3/``); ``vector`` is rlops's own PPO/A2C over
batched envs (``vector/``). An engine trains in two steps, so that "fail before training" holds
for both: ``prepare`` probes the env and builds the learner before any run directory exists, and
``Trainer.run`` then trains inside the run that the composition above pipeline/ opened
(``services.training``): its directory and its recorder, the one path of its records. An engine
emits and writes checkpoints; what consumes its records (the log, the sinks, the registry) is
composed above it. Both engines leave the same run directory, log, checkpoints
and registry rows; a checkpoint's options name the engine that loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rlops.errors import UnknownNameError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint

if TYPE_CHECKING:
    from rlops.pipeline.evaluate import EvalResult
    from rlops.pipeline.loading import LoadedPolicy
    from rlops.sinks.recorder import RunRecorder


class RunFiles(Protocol):
    """The run directory as an engine sees it (``store.run_dir.RunDirectory`` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def checkpoints(self) -> Path: ...

    @property
    def eval_file(self) -> Path: ...

    def write_json(self, path: Path, data: Any) -> None: ...


@dataclass(frozen=True)
class RunParts:
    """What the composition hands an engine: where the run lives, and the recorder that every
    record goes through (the run's registry rows are made from those records, above pipeline/)."""

    run: RunFiles
    recorder: RunRecorder


@dataclass(frozen=True)
class Outcome:
    status: str  # finished | stopped
    checkpoint: Checkpoint  # the last one
    evaluation: EvalResult | None  # the final evaluation, when the run finished


class Trainer(Protocol):
    """A learner built for a run (envs open, nothing written yet)."""

    def warm_start(self, checkpoint: Checkpoint) -> None: ...

    def run(self, parts: RunParts, progress: bool) -> Outcome: ...

    def close(self) -> None: ...


class TrainingEngine(Protocol):
    name: str

    def prepare(self, options: Options) -> Trainer: ...

    def load(self, checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
             render_mode: str | None) -> LoadedPolicy: ...


class Sb3Engine:
    name = "sb3"

    def prepare(self, options: Options) -> Trainer:
        from rlops.pipeline.sb3.session import prepare_sb3

        return prepare_sb3(options)

    def load(self, checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
             render_mode: str | None) -> LoadedPolicy:
        from rlops.pipeline.sb3.loading import load_sb3_policy

        return load_sb3_policy(checkpoint, options, n_envs, render_mode)


class VectorEngine:
    name = "vector"

    def prepare(self, options: Options) -> Trainer:
        from rlops.pipeline.vector.session import prepare_vector

        return prepare_vector(options)

    def load(self, checkpoint: Checkpoint, options: Options, device: str, n_envs: int,
             render_mode: str | None) -> LoadedPolicy:
        from rlops.pipeline.vector.agent import load_vector_policy

        return load_vector_policy(checkpoint, options, device, n_envs, render_mode)


ENGINES: dict[str, TrainingEngine] = {"sb3": Sb3Engine(), "vector": VectorEngine()}


def engine_named(name: str) -> TrainingEngine:
    """The engine for ``train.engine``."""
    if name not in ENGINES:
        raise UnknownNameError("training engine", name, tuple(ENGINES))
    return ENGINES[name]
