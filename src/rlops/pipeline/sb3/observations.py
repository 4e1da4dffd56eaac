"""Obs: running normalization, clipping and frame stacking, as vector-env wrappers.

Normalization statistics travel with every checkpoint as plain arrays (``.npz``, loaded with
``allow_pickle=False``), never as a pickled ``VecNormalize``: a model evaluated without the
statistics it was trained with sees a different world (a known trap in SB3 and RL Zoo).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecFrameStack, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from rlops.errors import CheckpointCorruptError
from rlops.options.schema import ObsOptions


class VecClipObservation(VecEnvWrapper):
    """Clip raw observations to ``[-bound, bound]`` (used when they are not normalized)."""

    def __init__(self, venv: VecEnv, bound: float) -> None:
        super().__init__(venv)
        self.bound = bound

    def reset(self) -> VecEnvObs:
        return self._clip(self.venv.reset())

    def step_wait(self):  # noqa: ANN201 - VecEnv's own signature
        obs, rewards, dones, infos = self.venv.step_wait()
        return self._clip(obs), rewards, dones, infos

    def _clip(self, obs: VecEnvObs) -> VecEnvObs:
        if isinstance(obs, dict):
            return {key: np.clip(value, -self.bound, self.bound) for key, value in obs.items()}
        return np.clip(obs, -self.bound, self.bound)


def wrap_observations(venv: VecEnv, options: ObsOptions, gamma: float, training: bool = True) -> VecEnv:
    """Apply the Obs options in RL Zoo's order: normalize (with clipping), then stack frames."""
    if options.normalize != "none":
        venv = VecNormalize(
            venv,
            training=training,
            norm_obs=options.normalize in ("obs", "all"),
            norm_reward=options.normalize in ("reward", "all") and training,
            clip_obs=options.clip_range if options.clip_range is not None else np.inf,
            gamma=gamma,
        )
    elif options.clip_range is not None and _is_box(venv):
        venv = VecClipObservation(venv, options.clip_range)
    if options.stack_frames:
        venv = VecFrameStack(venv, n_stack=options.stack_frames)
    return venv


def _is_box(venv: VecEnv) -> bool:
    from gymnasium import spaces

    return isinstance(venv.observation_space, spaces.Box) and venv.observation_space.dtype != np.uint8


def find_normalizer(venv: VecEnv) -> VecNormalize | None:
    while isinstance(venv, VecEnvWrapper):
        if isinstance(venv, VecNormalize):
            return venv
        venv = venv.venv
    return None


def save_statistics(normalizer: VecNormalize, path: Path) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **statistics_arrays(normalizer))


def statistics_arrays(normalizer: VecNormalize) -> dict[str, np.ndarray]:
    """The normalizer's statistics as copies (a checkpoint taken now is written later)."""
    arrays: dict[str, np.ndarray] = {
        "clip_obs": np.asarray(normalizer.clip_obs, dtype=np.float64),
        "clip_reward": np.asarray(normalizer.clip_reward, dtype=np.float64),
        "epsilon": np.asarray(normalizer.epsilon, dtype=np.float64),
        "returns": np.array(normalizer.returns, dtype=np.float64),
    }
    arrays.update(_rms_arrays("ret", normalizer.ret_rms))
    if isinstance(normalizer.obs_rms, dict):
        for key, rms in normalizer.obs_rms.items():
            arrays.update(_rms_arrays(f"obs.{key}", rms))
    else:
        arrays.update(_rms_arrays("obs", normalizer.obs_rms))
    return arrays


def _rms_arrays(prefix: str, rms: RunningMeanStd) -> dict[str, np.ndarray]:
    return {f"{prefix}.mean": np.array(rms.mean), f"{prefix}.var": np.array(rms.var),
            f"{prefix}.count": np.asarray(rms.count, dtype=np.float64)}


def load_statistics(normalizer: VecNormalize, path: Path) -> None:
    """Restore statistics saved by ``save_statistics`` into a freshly built normalizer."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        normalizer.ret_rms = _rms_from(arrays, "ret")
        if isinstance(normalizer.obs_rms, dict):
            normalizer.obs_rms = {key: _rms_from(arrays, f"obs.{key}") for key in normalizer.obs_rms}
        else:
            rms = _rms_from(arrays, "obs")
            if rms.mean.shape != np.shape(normalizer.obs_rms.mean):
                raise ValueError(f"statistics of shape {rms.mean.shape}, env observations {np.shape(normalizer.obs_rms.mean)}")
            normalizer.obs_rms = rms
        if arrays["returns"].shape == np.shape(normalizer.returns):
            normalizer.returns = arrays["returns"]
    except (KeyError, ValueError, OSError) as exc:
        raise CheckpointCorruptError(f"normalization statistics {path} cannot be loaded: {exc}") from None


def _rms_from(arrays: dict[str, np.ndarray], prefix: str) -> RunningMeanStd:
    rms = RunningMeanStd(shape=arrays[f"{prefix}.mean"].shape)
    rms.mean = arrays[f"{prefix}.mean"].astype(np.float64)
    rms.var = arrays[f"{prefix}.var"].astype(np.float64)
    rms.count = float(arrays[f"{prefix}.count"])
    return rms
