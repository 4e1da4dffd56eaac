"""What a checkpoint holds of a vector-engine run, and how it is put back (between two rollouts).

The same directory format and manifest as an SB3 checkpoint (``checkpoints.write_checkpoint``);
only tensors (``torch.load(weights_only=True)``), NumPy arrays (``allow_pickle=False``) and JSON:

    parameters.pt      state dicts of the actor-critic and of the optimizer
    normalization.npz  running observation / return statistics (and the per-env discounted returns)
    rollout.npz        the envs' current observation, reset flags, running episode returns and
                       lengths, and, where the envs expose it (CartPole's batched env), their state
    state.json         counters and the RNG states of Python, NumPy, torch (and CUDA) and the envs

With the envs' state saved, a resumed run continues exactly as the uninterrupted one would.
Elsewhere (gymnasium's sync/async envs hold Python objects) the envs restart with fresh episodes
seeded from the step count.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlops.errors import CheckpointCorruptError
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.safe_files import torch_reason
from rlops.pipeline.vector.adam import Adam
from rlops.pipeline.vector.loop import VectorLearner
from rlops.pipeline.vector.normalize import Normalizer
from rlops.pipeline.vector.telemetry import RolloutTelemetry

ENGINE = "vector"


def save_learner(learner: VectorLearner, telemetry: RolloutTelemetry | None, directory: Path,
                 wall_time_s: float) -> None:
    torch.save({"policy": learner.policy.state_dict(), "optimizer": learner.optimizer.state_dict()},
               directory / "parameters.pt")
    _savez(directory / "normalization.npz", learner.normalizer.arrays())
    arrays: dict[str, np.ndarray] = {"obs": learner.obs.cpu().numpy(), "resetting": learner.resetting.cpu().numpy()}
    if telemetry is not None:
        arrays.update(ep_return=telemetry.ep_return.cpu().numpy(), ep_length=telemetry.ep_length.cpu().numpy())
    env_state = learner.env.state()
    if env_state is not None:
        arrays.update(env_state[0])
    _savez(directory / "rollout.npz", arrays)
    legacy = np.random.get_state()
    state = {
        "engine": ENGINE,
        "counters": {"num_timesteps": learner.num_timesteps, "n_updates": learner.n_updates,
                     "iterations": learner.iterations, "episodes": telemetry.episodes if telemetry else 0,
                     "wall_time_s": wall_time_s, "n_envs": learner.n_envs},
        "exact": env_state is not None,
        "env": env_state[1] if env_state is not None else None,
        "rng": {"python": _lists(random.getstate()), "numpy": [legacy[0], legacy[1].tolist(), *legacy[2:]],
                "torch": torch.get_rng_state().tolist(),
                **({"cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()]}
                   if learner.device.type == "cuda" else {})},
    }
    (directory / "state.json").write_text(json.dumps(state), encoding="utf-8")


def restore_learner(learner: VectorLearner, telemetry: RolloutTelemetry | None, checkpoint: Checkpoint) -> float:
    """Put a freshly built learner (and its envs) back where the checkpoint left off; returns the
    run's wall time so far."""
    load_weights(learner.policy, learner.normalizer, checkpoint, optimizer=learner.optimizer)
    state = json.loads(_file(checkpoint, "state.json").read_text(encoding="utf-8"))
    counters = state["counters"]
    learner.num_timesteps, learner.n_updates = int(counters["num_timesteps"]), int(counters["n_updates"])
    learner.iterations = int(counters["iterations"])
    if telemetry is not None:
        telemetry.episodes = int(counters["episodes"])
    with np.load(_file(checkpoint, "rollout.npz"), allow_pickle=False) as rollout:
        same_envs = int(counters["n_envs"]) == learner.n_envs
        if state["exact"] and same_envs and learner.env.exact_state:
            learner.obs = learner.env.restore(rollout, state["env"])
            learner.resetting.copy_(torch.as_tensor(rollout["resetting"]))
            if telemetry is not None and "ep_return" in rollout:
                telemetry.ep_return.copy_(torch.as_tensor(rollout["ep_return"]))
                telemetry.ep_length.copy_(torch.as_tensor(rollout["ep_length"]))
        else:  # envs whose state cannot be saved start fresh episodes, seeded from the step count
            learner.start(learner.env.seed + learner.num_timesteps)
    _restore_rng(state["rng"])
    return float(counters.get("wall_time_s", 0.0))


def load_weights(policy: torch.nn.Module, normalizer: Normalizer, checkpoint: Checkpoint,
                 optimizer: Adam | None = None) -> None:
    """The policy's weights and the normalization statistics (and the optimizer's state, to resume)."""
    path = _file(checkpoint, "parameters.pt")
    try:
        params = torch.load(path, map_location="cpu", weights_only=True)
        policy.load_state_dict(params["policy"])
        if optimizer is not None:
            optimizer.load_state_dict(params["optimizer"])
    except CheckpointCorruptError:
        raise
    except Exception as exc:  # torch raises many types for a damaged file or a different network
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} does not fit the network built from its "
                                     f"options: {torch_reason(exc)}") from None
    with np.load(_file(checkpoint, "normalization.npz"), allow_pickle=False) as arrays:
        normalizer.load(arrays, with_returns=optimizer is not None)


def is_vector_checkpoint(checkpoint: Checkpoint) -> bool:
    return checkpoint.options.get("train", {}).get("engine") == ENGINE


def _file(checkpoint: Checkpoint, name: str) -> Path:
    path = checkpoint.file(name)
    if path is None:
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} has no {name}")
    return path


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple | list) else value


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _restore_rng(rng: dict[str, Any]) -> None:
    random.setstate(_tuples(rng["python"]))
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(rng["torch"], dtype=torch.uint8))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in rng["cuda"]])
