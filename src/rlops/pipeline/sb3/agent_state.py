"""What a checkpoint holds of an SB3 agent, and how it is put back.

Only tensors (loaded with ``torch.load(weights_only=True)``), NumPy arrays (``allow_pickle=False``)
and JSON are written: loading a checkpoint never executes code from it. The model itself is
rebuilt from the options saved in the manifest (``algorithms.build_model``) and then filled:

    parameters.pt      state dicts of the policy and every optimizer (SB3's own list)
    variables.pt       loose tensors such as SAC's log entropy coefficient
    normalization.npz  running statistics of VecNormalize, when observations are normalized
    replay_buffer.npz  the replay buffer of off-policy algorithms
    env_state.npz      the envs' states and the learner's last observation, where they can be put back
                       (``env_state``: exact for classic-control envs in-process)
    state.json         counters (timesteps, updates, episodes), episode-info buffer, RNG states of
                       Python, NumPy, torch, the action space and every env
"""

from __future__ import annotations

import io
import json
import random
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import get_device
from stable_baselines3.common.vec_env import VecEnv

from rlops.errors import CheckpointCorruptError
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.sb3.env_state import capture_envs, prepare_envs, restore_envs
from rlops.pipeline.sb3.observations import find_normalizer, load_statistics, statistics_arrays
from rlops.pipeline.safe_files import load_tensors

COUNTERS = ("num_timesteps", "_n_updates", "_episode_num", "_n_calls", "exploration_rate",
            "_current_progress_remaining")
BUFFER_SCALARS = ("pos", "full")
BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def save_agent(model: BaseAlgorithm, venv: VecEnv | None, directory: Path, with_replay_buffer: bool = True) -> None:
    write_agent(capture_agent(model, venv), directory)
    if with_replay_buffer and isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        _save_replay_buffer(model.replay_buffer, directory / "replay_buffer.npz")


def capture_agent(model: BaseAlgorithm, venv: VecEnv | None) -> AgentSnapshot:
    """The agent as it is now, as the bytes of its checkpoint files (all but the replay buffer):
    taken at a rollout boundary and written later, when a checkpoint is due or a stop comes."""
    files = {"parameters.pt": _torch_bytes(model.get_parameters())}
    _, variable_names = model._get_torch_save_params()
    if variable_names:
        files["variables.pt"] = _torch_bytes({name: _getattr(model, name).detach().cpu() for name in variable_names})
    normalizer = find_normalizer(venv) if venv is not None else None
    if normalizer is not None:
        files["normalization.npz"] = _npz_bytes(statistics_arrays(normalizer))
    envs, env_arrays = capture_envs(model, venv)
    if env_arrays:
        files["env_state.npz"] = _npz_bytes(env_arrays)
    state = {
        "counters": {name: _plain(getattr(model, name)) for name in COUNTERS if hasattr(model, name)},
        "ep_info_buffer": [_plain(info) for info in (model.ep_info_buffer or [])],
        "rng": _capture_rng(model),
        "env": envs,
    }
    files["state.json"] = json.dumps(state).encode()
    return AgentSnapshot(int(model.num_timesteps), files)


def write_agent(snapshot: AgentSnapshot, directory: Path) -> None:
    for name, data in snapshot.files.items():
        (directory / name).write_bytes(data)


def restore_agent(model: BaseAlgorithm, venv: VecEnv | None, checkpoint: Checkpoint,
                  with_training_state: bool = True) -> None:
    """Fill a freshly built model (and its env's normalizer) from a verified checkpoint."""
    params = _load_tensors(checkpoint, "parameters.pt")
    if not with_training_state:
        params = {"policy": params["policy"]}
    try:
        model.set_parameters(params, exact_match=with_training_state, device=model.device)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} does not fit the model built from its options: {exc}") from None
    if with_training_state and checkpoint.file("variables.pt"):
        for name, tensor in _load_tensors(checkpoint, "variables.pt").items():
            _getattr(model, name).data.copy_(tensor.to(model.device))
    state = json.loads((checkpoint.path / "state.json").read_text(encoding="utf-8")) if with_training_state else {}
    envs = state.get("env", {"exact": False})
    prepare_envs(model, envs)
    normalizer = find_normalizer(venv) if venv is not None else None
    if normalizer is not None:
        if not checkpoint.file("normalization.npz"):
            raise CheckpointCorruptError(f"checkpoint {checkpoint.path} has no normalization statistics, "
                                         "but its options normalize observations")
        load_statistics(normalizer, checkpoint.path / "normalization.npz")
    if not with_training_state:
        return
    for name, value in state["counters"].items():
        setattr(model, name, value)
    # SB3 keeps a buffer it already has when a run goes on (reset_num_timesteps=False), so the
    # episode statistics continue instead of starting empty.
    model.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=getattr(model, "_stats_window_size", 100))
    if model.ep_success_buffer is None:
        model.ep_success_buffer = deque(maxlen=getattr(model, "_stats_window_size", 100))
    _restore_rng(model, state["rng"])
    restore_envs(model, venv, envs, _load_arrays(checkpoint, "env_state.npz"))
    if isinstance(model, OffPolicyAlgorithm) and checkpoint.file("replay_buffer.npz"):
        _load_replay_buffer(model.replay_buffer, checkpoint.path / "replay_buffer.npz")


@dataclass(frozen=True)
class AgentSnapshot:
    env_steps: int
    files: dict[str, bytes]


def _torch_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _load_arrays(checkpoint: Checkpoint, name: str) -> dict[str, np.ndarray]:
    path = checkpoint.file(name)
    if path is None:
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, OSError) as exc:
        raise CheckpointCorruptError(f"{path} cannot be read: {exc}") from None


def _load_tensors(checkpoint: Checkpoint, name: str) -> dict[str, Any]:
    path = checkpoint.file(name)
    if path is None:
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} has no {name}")
    return load_tensors(path)


def _getattr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _plain(value: Any) -> Any:
    """JSON-friendly form of counters and episode infos (NumPy scalars become numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _capture_rng(model: BaseAlgorithm) -> dict[str, Any]:
    legacy = np.random.get_state()
    rng: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": [legacy[0], legacy[1].tolist(), *legacy[2:]],
        "torch": torch.get_rng_state().tolist(),
    }
    if model.action_space is not None and model.action_space._np_random is not None:
        rng["action_space"] = model.action_space.np_random.bit_generator.state
    if get_device(model.device).type == "cuda":
        rng["cuda"] = [state.tolist() for state in torch.cuda.get_rng_state_all()]
    return rng


@contextmanager
def kept_rng() -> Iterator[None]:
    """Run a block (an evaluation) without moving the global random streams of Python, NumPy and torch."""
    python, legacy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(legacy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple | list) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value


def _restore_rng(model: BaseAlgorithm, rng: dict[str, Any]) -> None:
    random.setstate(_to_tuples(rng["python"]))
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(rng["torch"], dtype=torch.uint8))
    if "action_space" in rng and model.action_space is not None:
        model.action_space.np_random.bit_generator.state = rng["action_space"]
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in rng["cuda"]])


def _save_replay_buffer(buffer: ReplayBuffer, path: Path) -> None:
    arrays: dict[str, np.ndarray] = {name: np.asarray(getattr(buffer, name)) for name in BUFFER_SCALARS}
    for name in BUFFER_ARRAYS:
        value = getattr(buffer, name, None)
        if isinstance(value, dict):
            arrays.update({f"{name}.{key}": array for key, array in value.items()})
        elif value is not None:
            arrays[name] = value
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _load_replay_buffer(buffer: ReplayBuffer, path: Path) -> None:
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in BUFFER_ARRAYS:
                current = getattr(buffer, name, None)
                if isinstance(buffer, DictReplayBuffer) and isinstance(current, dict):
                    for key in current:
                        current[key][...] = data[f"{name}.{key}"]
                elif current is not None:
                    current[...] = data[name]
            buffer.pos = int(data["pos"])
            buffer.full = bool(data["full"])
    except (KeyError, ValueError, OSError) as exc:
        raise CheckpointCorruptError(f"replay buffer {path} does not fit this model: {exc}") from None
