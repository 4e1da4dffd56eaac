"""Where the envs were: what a checkpoint keeps so that a resumed run steps on from the same states.

A resumed run matches the uninterrupted one only if its envs continue the episodes in flight
with the same random streams. That is possible where the whole state of an env is reachable and
plain data: Gymnasium's classic-control envs keep their dynamics in ``state`` (an array) and draw
from ``np_random``; the wrappers around them (Monitor, TimeLimit, order checks) keep a few
counters. For those, in-process (``env.vectorization = "sync"``), the checkpoint is exact: the
envs are put back mid-episode and the learner's last observation with them.

Anything else (MuJoCo, Atari, a custom env, envs in worker processes) is restored as far as it
goes: the envs' random generators where reachable, and the episodes in flight restart from a
reset when training resumes. ``exact`` in ``state.json`` says which of the two a checkpoint is.
Only JSON and ``allow_pickle=False`` arrays are written, as for the rest of a checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    VecEnv,
    VecEnvWrapper,
    VecFrameStack,
    VecNormalize,
    VecTransposeImage,
)

EXACT_ENV_MODULES = ("gymnasium.envs.classic_control.",)
WRAPPER_FIELDS = ("_elapsed_steps", "_has_reset", "rewards", "needs_reset", "total_steps")
ENV_FIELDS = ("steps_beyond_terminated",)
LEARNER_ARRAYS = {"last_obs": "_last_obs", "last_episode_starts": "_last_episode_starts",
                  "last_original_obs": "_last_original_obs"}


def capture_envs(model: BaseAlgorithm, venv: VecEnv | None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The envs' states as JSON and arrays; ``{"exact": False}`` and no arrays when they cannot be restored."""
    base = _base(venv)
    if not isinstance(base, DummyVecEnv):
        return {"exact": False}, {}
    envs, arrays = [], {}
    for index, env in enumerate(base.envs):
        layers = [{name: _plain(getattr(layer, name)) for name in WRAPPER_FIELDS if name in vars(layer)}
                  for layer in _layers(env)]
        unwrapped = env.unwrapped
        entry: dict[str, Any] = {"layers": layers, "rng": _rng_state(unwrapped)}
        entry.update({name: _plain(getattr(unwrapped, name)) for name in ENV_FIELDS if hasattr(unwrapped, name)})
        state = getattr(unwrapped, "state", None)
        if state is not None:
            arrays[f"env{index}.state"] = np.asarray(state)
        envs.append(entry)
    exact = _exact(model, venv, base) and model._last_obs is not None
    if exact:
        for key, attribute in LEARNER_ARRAYS.items():
            _put(arrays, key, getattr(model, attribute, None))
        stack = _frame_stack(model.get_env() or venv)
        if stack is not None:
            arrays["frame_stack"] = stack.stacked_obs.stacked_obs
    return {"exact": exact, "envs": envs}, arrays


def prepare_envs(model: BaseAlgorithm, saved: dict[str, Any]) -> None:
    """Before the normalizer is filled: reset the envs (wrappers then expect steps, not a reset),
    since a reset feeds a VecNormalize's statistics that are put back next."""
    env = model.get_env()
    if saved.get("exact") and env is not None:
        env.reset()


def restore_envs(model: BaseAlgorithm, venv: VecEnv | None, saved: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Put back every env's random stream, and with an exact checkpoint their states and the last observation."""
    base = _base(venv)
    if not isinstance(base, DummyVecEnv) or len(saved.get("envs", ())) != base.num_envs:
        return
    for index, (env, entry) in enumerate(zip(base.envs, saved["envs"], strict=True)):
        _set_rng(env.unwrapped, entry.get("rng"))
        if not saved.get("exact"):
            continue
        for layer, fields in zip(_layers(env), entry["layers"], strict=False):
            for name, value in fields.items():
                setattr(layer, name, value)
        for name in ENV_FIELDS:
            if name in entry:
                setattr(env.unwrapped, name, entry[name])
        if f"env{index}.state" in arrays:
            env.unwrapped.state = arrays[f"env{index}.state"].copy()
    # The seeds SB3 gave the envs at construction would replay the run's first episodes at the
    # next reset; the restored generators continue instead.
    base._seeds = [None] * base.num_envs
    if not saved.get("exact"):
        return
    for key, attribute in LEARNER_ARRAYS.items():
        value = _take(arrays, key)
        if value is not None:
            setattr(model, attribute, value)
    stack = _frame_stack(model.get_env() or venv)
    if stack is not None and "frame_stack" in arrays:
        stack.stacked_obs.stacked_obs[...] = arrays["frame_stack"]


def _exact(model: BaseAlgorithm, venv: VecEnv | None, base: DummyVecEnv) -> bool:
    if not all(type(env.unwrapped).__module__.startswith(EXACT_ENV_MODULES) for env in base.envs):
        return False
    env: Any = model.get_env() or venv
    while isinstance(env, VecEnvWrapper):
        known = isinstance(env, VecNormalize | VecTransposeImage) or type(env).__name__ == "VecClipObservation"
        if isinstance(env, VecFrameStack):
            known = isinstance(env.stacked_obs.stacked_obs, np.ndarray)
        if not known:
            return False
        env = env.venv
    return True


def _base(venv: Any) -> Any:
    while isinstance(venv, VecEnvWrapper):
        venv = venv.venv
    return venv


def _frame_stack(venv: Any) -> VecFrameStack | None:
    while isinstance(venv, VecEnvWrapper):
        if isinstance(venv, VecFrameStack):
            return venv
        venv = venv.venv
    return None


def _layers(env: Any) -> list[Any]:
    layers = []
    while env is not None:
        layers.append(env)
        env = getattr(env, "env", None) if "env" in vars(env) else None
    return layers


def _rng_state(env: Any) -> dict[str, Any] | None:
    generator = getattr(env, "_np_random", None)
    return generator.bit_generator.state if isinstance(generator, np.random.Generator) else None


def _set_rng(env: Any, state: dict[str, Any] | None) -> None:
    if state is None:
        return
    try:
        env.np_random.bit_generator.state = state  # the property makes a generator if none exists yet
    except (ValueError, TypeError, AttributeError):
        pass  # a different bit generator: the env keeps its own seeding


def _put(arrays: dict[str, np.ndarray], key: str, value: Any) -> None:
    if isinstance(value, dict):
        arrays.update({f"{key}.{name}": np.asarray(part) for name, part in value.items()})
    elif value is not None:
        arrays[key] = np.asarray(value)


def _take(arrays: dict[str, np.ndarray], key: str) -> Any:
    if key in arrays:
        return arrays[key].copy()
    parts = {name[len(key) + 1:]: value.copy() for name, value in arrays.items() if name.startswith(key + ".")}
    return parts or None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
