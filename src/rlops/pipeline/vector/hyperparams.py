"""The vector engine's hyperparameters: the ordinary ``agent.hyperparams`` option, checked here.

Defaults are CleanRL's ppo.py (PPO) and SB3's A2C (n-step returns, one epoch, no clipping).
A misspelt name fails before training with the list and a "did you mean" (as for SB3).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from rlops.errors import IncompatibleChoiceError, UnknownNameError, UsageError
from rlops.options.schema import Options
from rlops.pipeline.schedules import LinearSchedule, parse_schedule

ALGORITHMS = ("ppo", "a2c")
# Hyperparameters that have an option of their own; setting them twice would be ambiguous.
OWNED_BY_OPTIONS = {"learning_rate": "train.learning_rate", "batch_size": "train.batch_size", "gamma": "train.gamma",
                    "seed": "env.seed", "device": "train.device", "net_arch": "agent.net_arch"}


@dataclass(frozen=True)
class Hyperparams:
    n_steps: int = 128  # steps per env per rollout
    n_epochs: int = 4
    n_minibatches: int = 4  # unless train.batch_size sets the minibatch size
    clip_range: float = 0.2
    clip_vloss: bool = True
    clip_range_vf: float | None = None  # value clipping range; unset: clip_range
    gae_lambda: float = 0.95
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop the epochs of an update once approx_kl exceeds it
    norm_adv: bool = True
    anneal_lr: bool = True  # linear decay of the learning rate to 0 (CleanRL's default)
    activation: str = "tanh"
    squash_actions: bool = False  # continuous actions: tanh-squashed into the bounds (else clipped)
    log_std_init: float = 0.0
    ortho_init: bool = True
    threads: int | None = None  # torch.set_num_threads; unset: torch's default
    # Filled from the other options, not agent.hyperparams:
    learning_rate: float = 3e-4
    gamma: float = 0.99
    batch_size: int | None = None  # minibatch size (train.batch_size)
    pi_layers: tuple[int, ...] = (64, 64)
    vf_layers: tuple[int, ...] = (64, 64)
    algorithm: str = "ppo"

    def minibatch_size(self, n_envs: int) -> int:
        batch = n_envs * self.n_steps
        return min(batch, self.batch_size) if self.batch_size else max(1, batch // self.n_minibatches)


USER_SET = tuple(f.name for f in fields(Hyperparams)
                 if f.name not in ("learning_rate", "gamma", "batch_size", "pi_layers", "vf_layers", "algorithm"))
A2C_DEFAULTS = {"n_steps": 5, "n_epochs": 1, "n_minibatches": 1, "gae_lambda": 1.0, "ent_coef": 0.0,
                "norm_adv": False, "clip_vloss": False, "anneal_lr": False}
ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu")


def hyperparams_of(options: Options) -> Hyperparams:
    """The checked hyperparameters of a vector-engine run, or a UsageError naming what is wrong."""
    algorithm = options.agent.algorithm
    if algorithm not in ALGORITHMS:
        raise IncompatibleChoiceError(f"train.engine=vector trains {' and '.join(ALGORITHMS)}, not {algorithm}",
                                      hint="set agent.algorithm ppo or a2c, or train.engine sb3 for every algorithm")
    given = dict(options.agent.hyperparams)
    for key, option in OWNED_BY_OPTIONS.items():
        if key in given:
            raise UsageError(f"agent.hyperparams sets {key!r}, which is the option {option}", hint=f"set {option} instead")
    unknown = sorted(set(given) - set(USER_SET))
    if unknown:
        raise UnknownNameError(f"{algorithm} hyperparameter (train.engine=vector)", unknown[0], USER_SET,
                               hint=f"the vector engine's {algorithm} takes: {', '.join(sorted(USER_SET))}")
    base = Hyperparams(algorithm=algorithm)
    if algorithm == "a2c":
        base = replace(base, **A2C_DEFAULTS)
    values: dict[str, Any] = {key: _checked(key, value, getattr(base, key)) for key, value in given.items()}
    learning_rate = _learning_rate(options, values)
    pi, vf = _layers(options.agent.net_arch)
    params = replace(base, **values, learning_rate=learning_rate, pi_layers=pi, vf_layers=vf,
                     gamma=options.train.gamma if options.train.gamma is not None else base.gamma,
                     batch_size=options.train.batch_size)
    _check_ranges(params)
    return params


def _learning_rate(options: Options, values: dict[str, Any]) -> float:
    # 'lin_X' asks for the linear decay whatever anneal_lr says; a plain number keeps the default.
    schedule = parse_schedule(options.train.learning_rate, "train.learning_rate")
    if isinstance(schedule, LinearSchedule):
        values["anneal_lr"] = True
        return schedule.start
    return float(schedule)


def _checked(key: str, value: Any, default: Any) -> Any:
    if key == "activation":
        if value not in ACTIVATIONS:
            raise UnknownNameError("activation", str(value), ACTIVATIONS)
        return value
    if isinstance(default, bool) or key in ("clip_vloss", "norm_adv", "anneal_lr", "squash_actions", "ortho_init"):
        if not isinstance(value, bool):
            raise UsageError(f"agent.hyperparams {key} must be true or false, not {value!r}")
        return value
    if value is None and key in ("target_kl", "clip_range_vf", "threads"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"agent.hyperparams {key} must be a number, not {value!r}")
    if key in ("n_steps", "n_epochs", "n_minibatches", "threads"):
        if int(value) != value or value < 1:
            raise UsageError(f"agent.hyperparams {key} must be a whole number >= 1, not {value!r}")
        return int(value)
    return float(value)


def _check_ranges(params: Hyperparams) -> None:
    for key in ("clip_range", "gae_lambda", "max_grad_norm"):
        if getattr(params, key) <= 0:
            raise UsageError(f"agent.hyperparams {key} must be > 0, not {getattr(params, key)}")
    if params.gae_lambda > 1:
        raise UsageError(f"agent.hyperparams gae_lambda must be at most 1, not {params.gae_lambda}")


def _layers(net_arch: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if net_arch is None:
        return (64, 64), (64, 64)
    if isinstance(net_arch, list):
        return tuple(net_arch), tuple(net_arch)
    unknown = set(net_arch) - {"pi", "vf"}
    if unknown:
        raise UnknownNameError("net_arch key", sorted(unknown)[0], ("pi", "vf"))
    return tuple(net_arch.get("pi", (64, 64))), tuple(net_arch.get("vf", (64, 64)))
