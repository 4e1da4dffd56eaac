"""Agent: the algorithm registry and the one place an SB3 model is built from the options.

``build_model`` is used both to train and to load a checkpoint (which holds only tensors and
JSON), so a model is always rebuilt from its options rather than unpickled.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv

from rlops.errors import IncompatibleChoiceError, UnknownNameError, UsageError
from rlops.options.schema import Options
from rlops.pipeline.sb3.features import encoder_kwargs
from rlops.pipeline.schedules import parse_schedule


@dataclass(frozen=True)
class Algorithm:
    name: str
    cls: type[BaseAlgorithm]
    action_spaces: tuple[type[spaces.Space], ...]
    off_policy: bool

    def accepts(self, action_space: spaces.Space) -> bool:
        return isinstance(action_space, self.action_spaces)


_ANY_ACTION = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
ALGORITHMS: dict[str, Algorithm] = {
    "ppo": Algorithm("ppo", PPO, _ANY_ACTION, off_policy=False),
    "a2c": Algorithm("a2c", A2C, _ANY_ACTION, off_policy=False),
    "dqn": Algorithm("dqn", DQN, (spaces.Discrete,), off_policy=True),
    "sac": Algorithm("sac", SAC, (spaces.Box,), off_policy=True),
    "td3": Algorithm("td3", TD3, (spaces.Box,), off_policy=True),
}
POLICY_TYPES = ("MlpPolicy", "CnnPolicy", "MultiInputPolicy")
ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU, "leaky_relu": torch.nn.LeakyReLU,
}
# Hyperparameters that have an option of their own; setting them twice would be ambiguous.
OWNED_BY_OPTIONS = {"learning_rate": "train.learning_rate", "batch_size": "train.batch_size", "gamma": "train.gamma",
                    "seed": "env.seed", "device": "train.device", "policy": "agent.policy_type", "env": "env.env_id"}
SCHEDULED = ("clip_range", "clip_range_vf")


def get_algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise UnknownNameError("algorithm", name, ALGORITHMS)
    return ALGORITHMS[name]


def check_compatible(options: Options, observation_space: spaces.Space, action_space: spaces.Space) -> Algorithm:
    """Fail before training when the chosen pieces cannot work together, saying what would."""
    algorithm = get_algorithm(options.agent.algorithm)
    if not algorithm.accepts(action_space):
        fitting = [a.name for a in ALGORITHMS.values() if a.accepts(action_space)]
        raise IncompatibleChoiceError(
            f"agent.algorithm={algorithm.name} does not support {type(action_space).__name__} action spaces "
            f"(env {options.env.env_id})",
            hint=f"for this env use one of: {', '.join(fitting)}")
    policy_type(options, observation_space)
    encoder_kwargs(options.feature, observation_space, options.obs.stack_frames)
    for key, option in OWNED_BY_OPTIONS.items():
        if key in options.agent.hyperparams:
            raise UsageError(f"agent.hyperparams sets {key!r}, which is the option {option}", hint=f"set {option} instead")
    if options.train.batch_size is not None and "batch_size" not in _parameters(algorithm.cls):
        raise IncompatibleChoiceError(
            f"train.batch_size does not apply to {algorithm.name}: its batch is env.n_envs x n_steps",
            hint="unset train.batch_size, or set agent.hyperparams n_steps")
    unknown = set(options.agent.hyperparams) - _parameters(algorithm.cls)
    if unknown:
        raise UnknownNameError(f"{algorithm.name} hyperparameter", sorted(unknown)[0], _parameters(algorithm.cls),
                               hint=f"{algorithm.name} takes: {', '.join(sorted(_parameters(algorithm.cls)))}")
    return algorithm


def _parameters(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env", "_init_setup_model"}


def policy_type(options: Options, observation_space: spaces.Space) -> str:
    chosen = options.agent.policy_type
    if chosen == "auto":
        if isinstance(observation_space, spaces.Dict):
            return "MultiInputPolicy"
        if is_image_space(observation_space) and options.feature.encoder in ("auto", "cnn"):
            return "CnnPolicy"
        return "MlpPolicy"
    if chosen not in POLICY_TYPES:
        raise UnknownNameError("policy type", chosen, (*POLICY_TYPES, "auto"))
    if chosen == "MultiInputPolicy" and not isinstance(observation_space, spaces.Dict):
        raise IncompatibleChoiceError("agent.policy_type=MultiInputPolicy needs Dict observations",
                                      hint="use MlpPolicy (or auto)")
    if chosen != "MultiInputPolicy" and isinstance(observation_space, spaces.Dict):
        raise IncompatibleChoiceError(f"agent.policy_type={chosen} cannot take Dict observations",
                                      hint="use MultiInputPolicy (or auto)")
    if chosen == "CnnPolicy" and not is_image_space(observation_space, check_channels=False):
        raise IncompatibleChoiceError("agent.policy_type=CnnPolicy needs image observations",
                                      hint="use MlpPolicy (or auto) for vector observations")
    return chosen


def build_model(options: Options, venv: VecEnv, seed: int) -> BaseAlgorithm:
    algorithm = check_compatible(options, venv.observation_space, venv.action_space)
    hyperparams = dict(options.agent.hyperparams)
    for key in SCHEDULED:
        if isinstance(hyperparams.get(key), str):
            hyperparams[key] = parse_schedule(hyperparams[key], f"agent.hyperparams.{key}")
    policy_kwargs = _policy_kwargs(options, venv.observation_space, hyperparams.pop("policy_kwargs", {}))
    kwargs: dict[str, Any] = {
        "learning_rate": parse_schedule(options.train.learning_rate, "train.learning_rate"),
        "seed": seed,
        "device": options.train.device,
        "verbose": 0,
        **hyperparams,
    }
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    if options.train.batch_size is not None:
        kwargs["batch_size"] = options.train.batch_size
    if options.train.gamma is not None:
        kwargs["gamma"] = options.train.gamma
    try:
        return algorithm.cls(policy_type(options, venv.observation_space), venv, **kwargs)
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        raise IncompatibleChoiceError(f"{algorithm.name} cannot be built with these options: {exc}",
                                      hint="check agent.hyperparams, agent.net_arch and feature.*") from None


def _policy_kwargs(options: Options, observation_space: spaces.Space, extra: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(extra)
    if isinstance(kwargs.get("activation_fn"), str):
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise UnknownNameError("activation", name, ACTIVATIONS)
        kwargs["activation_fn"] = ACTIVATIONS[name]
    if options.agent.net_arch is not None:
        kwargs["net_arch"] = options.agent.net_arch
    kwargs.update(encoder_kwargs(options.feature, observation_space, options.obs.stack_frames))
    return kwargs

