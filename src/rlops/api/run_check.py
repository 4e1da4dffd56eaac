"""What ``rlops train`` would refuse before it trains, asked of a form's draft: the start page shows
the CLI's own message ("unknown algorithm 'ppoo'; did you mean 'ppo'?") under the option it names.

Nothing here restates a rule. The draft is resolved as the run's child process resolves it
(``resolve_options`` over the same flags), then goes through the pre-flight calls of the engine
that would train it, in their order: the engine's name, the algorithm's, the env id's, then, for
SB3, the env's spaces against the algorithm, policy, encoder and hyperparameters
(``check_compatible``), for the vector engine its hyperparameters. Each refusal is placed on the
option its message names. The lists a select offers (``named_choices``) come from the same
registries.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from rlops.errors import RlopsError, UnknownNameError, UsageError
from rlops.options import resolve_options
from rlops.options.fields import specs_by_dotted

# Which option an unknown name belongs to, by the registry's kind (UnknownNameError.kind).
KIND_OPTION = {"algorithm": "agent.algorithm", "env id": "env.env_id", "env": "env.env_id",
               "policy type": "agent.policy_type", "encoder": "feature.encoder", "training engine": "train.engine",
               "activation": "agent.hyperparams", "net_arch key": "agent.net_arch"}
DOTTED = re.compile(r"\b([a-z_]+\.[a-z_]+)\b")


def named_choices() -> dict[str, list[str]]:
    """Options whose value must be one name of a registry: what their select lists."""
    from rlops.pipeline.sb3.algorithms import ALGORITHMS, POLICY_TYPES

    return {"agent.algorithm": sorted(ALGORITHMS), "agent.policy_type": ["auto", *POLICY_TYPES]}


def run_problems(values: dict[str, Any]) -> list[dict[str, str]]:
    """The refusals ``rlops train`` with these options would print before training, by option
    (an empty list when it would start). ``values`` passed the form's per-option check."""
    try:
        options = resolve_options(args=[_flag(key, value) for key, value in values.items()]).options
    except RlopsError as exc:
        return [_problem(exc)]
    problems = []
    for check in (_engine, _algorithm, _env):
        try:
            check(options)
        except UsageError as exc:
            problems.append(_problem(exc))
    if problems:  # the spaces are only worth probing with names that all exist
        return problems
    try:
        _compatible(options)
    except UsageError as exc:
        problems.append(_problem(exc))
    return problems


def _flag(key: str, value: Any) -> str:
    # As the start request hands them to the run (api/runs_api.option_flags): one token per option.
    return f"--{key.replace('_', '-')}={value if isinstance(value, str) else json.dumps(value)}"


def _engine(options: Any) -> None:
    from rlops.pipeline.engine import engine_named

    engine_named(options.train.engine)


def _algorithm(options: Any) -> None:
    from rlops.pipeline.sb3.algorithms import get_algorithm

    get_algorithm(options.agent.algorithm)


def _env(options: Any) -> None:
    if ":" in options.env.env_id:  # code named by the server's own configuration: its run imports it
        return
    from rlops.pipeline.envs import env_constructor

    env_constructor(options.env.env_id, options.env.env_kwargs)


def _compatible(options: Any) -> None:
    if options.train.engine == "vector":
        from rlops.pipeline.vector.hyperparams import hyperparams_of

        hyperparams_of(options)
        return
    if ":" in options.env.env_id:
        return
    from rlops.pipeline.sb3.algorithms import check_compatible

    observation_space, action_space = _spaces(options.env.env_id, json.dumps(options.env.env_kwargs, sort_keys=True))
    check_compatible(options, observation_space, action_space)


@lru_cache(maxsize=64)
def _spaces(env_id: str, env_kwargs: str) -> tuple[Any, Any]:
    """One env built and closed (``probe_env``), once per env and kwargs: the form checks on
    every keystroke."""
    from rlops.options.schema import EnvOptions
    from rlops.pipeline.envs import probe_env

    probe = probe_env(EnvOptions(env_id=env_id, env_kwargs=json.loads(env_kwargs)))
    return probe.observation_space, probe.action_space


def _problem(exc: RlopsError) -> dict[str, str]:
    option = KIND_OPTION.get(exc.kind, "") if isinstance(exc, UnknownNameError) else ""
    if isinstance(exc, UnknownNameError) and "hyperparameter" in exc.kind:
        option = "agent.hyperparams"
    if not option:
        known = specs_by_dotted()
        option = next((name for name in DOTTED.findall(exc.message) if name in known), "")
    problem = {"option": option, "message": exc.message}
    if exc.hint:
        problem["hint"] = exc.hint
    return problem
