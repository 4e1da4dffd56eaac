"""Env: building one environment from an id, and a vector of them from the options.

An env is named by a registered Gymnasium id (``CartPole-v1``), a ``module:EnvId`` that imports
its registering module first (``gym_anytrading:forex-v0``), or a ``module:callable`` factory that
returns an env when called with ``env_kwargs``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from rlops.errors import UnknownNameError, UsageError
from rlops.options.schema import EnvOptions

# Packages that register well-known env ids when imported, so that a bare id works once the
# matching extra is installed.
PLUGIN_MODULES = {"forex-v0": "gym_anytrading", "stocks-v0": "gym_anytrading"}
PLUGIN_EXTRAS = {"gym_anytrading": "trading", "Box2D": "box2d", "mujoco": "mujoco"}


def env_constructor(env_id: str, env_kwargs: dict[str, Any] | None = None,
                    render_mode: str | None = None) -> Callable[[], gym.Env]:
    """Return a function that builds one env; fails now, not in a worker, if the id is unknown."""
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    module_name, _, name = env_id.rpartition(":")
    if module_name:
        module = _import(module_name, env_id)
        if name in gym.registry:
            return lambda: gym.make(name, **kwargs)
        factory = getattr(module, name, None)
        if not callable(factory):
            raise UnknownNameError("env", env_id, [f"{module_name}:{n}" for n in dir(module) if not n.startswith("_")],
                                   hint=f"'{module_name}' neither registers a Gymnasium id '{name}' nor defines a callable of that name")
        return lambda: _checked(factory(**kwargs), env_id)
    if env_id not in gym.registry and env_id in PLUGIN_MODULES:
        _import(PLUGIN_MODULES[env_id], env_id)
    if env_id not in gym.registry:
        raise UnknownNameError("env id", env_id, gym.registry.keys(),
                               hint="use a registered Gymnasium id or 'module:callable'; "
                                    "python -c 'import gymnasium; gymnasium.pprint_registry()' lists them")
    return lambda: gym.make(env_id, **kwargs)


def _import(module_name: str, env_id: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        extra = PLUGIN_EXTRAS.get(module_name.split(".")[0])
        hint = f"pip install 'rlops[{extra}]'" if extra else f"install the package that provides '{module_name}'"
        raise UsageError(f"env {env_id!r} needs module {module_name!r}, which cannot be imported: {exc}",
                         hint=hint) from None


def _checked(env: Any, env_id: str) -> gym.Env:
    if not isinstance(env, gym.Env):
        raise UsageError(f"env factory {env_id!r} returned {type(env).__name__}, not a gymnasium.Env")
    return env


@dataclass(frozen=True)
class EnvProbe:
    observation_space: gym.Space
    action_space: gym.Space
    render_modes: tuple[str, ...]
    spec: str | None  # the env's registration as JSON, for the run's hashes


def probe_env(options: EnvOptions) -> EnvProbe:
    """Build one env and close it at once: its spaces and render modes, for pre-flight checks."""
    env = env_constructor(options.env_id, options.env_kwargs)()
    try:
        try:
            spec = env.spec.to_json() if env.spec is not None else None
        except Exception:  # kwargs that JSON cannot hold
            spec = repr(env.spec)
        return EnvProbe(env.observation_space, env.action_space,
                        tuple(env.metadata.get("render_modes", ()) or ()), spec)
    finally:
        env.close()


def make_vector_env(options: EnvOptions, seed: int, n_envs: int | None = None,
                    render_mode: str | None = None) -> VecEnv:
    """The vectorized env of a run: ``n_envs`` copies, each wrapped in SB3's Monitor and seeded
    ``seed + rank`` so that the same seed gives the same episodes."""
    constructor = env_constructor(options.env_id, options.env_kwargs, render_mode)
    n_envs = n_envs or options.n_envs
    vec_cls: type[VecEnv] = SubprocVecEnv if options.vectorization == "async" and n_envs > 1 else DummyVecEnv
    return make_vec_env(constructor, n_envs=n_envs, seed=seed, vec_env_cls=vec_cls)
