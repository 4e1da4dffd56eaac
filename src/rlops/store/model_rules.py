"""Validation rules for a registered model: pure, each reported on its own.

The seed's rules: the mean evaluation reward reaches ``min_reward``; enough evaluation episodes
back it (``min_episodes``); and it is stable, ``std < max_std_ratio * |mean|`` (0.5 in the seed;
the absolute value keeps the rule meaningful for negative rewards such as Pendulum's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rules:
    min_reward: float | None = None
    min_episodes: int = 10
    max_std_ratio: float | None = 0.5


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    actual: float | None
    threshold: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(model: dict[str, Any], rules: Rules) -> list[RuleResult]:
    """Every rule with its outcome; a model without an evaluation fails with that reason."""
    mean, std, episodes = model.get("mean_reward"), model.get("std_reward"), model.get("eval_episodes")
    if mean is None:
        return [RuleResult("evaluated", False, None, None,
                           f"model {model.get('id')} has no evaluation: run 'rlops eval --model-id {model.get('id')}'")]
    results = []
    if rules.min_reward is not None:
        results.append(RuleResult("min_reward", mean >= rules.min_reward, mean, rules.min_reward,
                                  f"mean reward {mean:.2f} {'>=' if mean >= rules.min_reward else '<'} "
                                  f"min_reward {rules.min_reward:g}"))
    episodes = int(episodes or 0)
    results.append(RuleResult("min_episodes", episodes >= rules.min_episodes, episodes, rules.min_episodes,
                              f"{episodes} evaluation episodes {'>=' if episodes >= rules.min_episodes else '<'} "
                              f"min_episodes {rules.min_episodes}"))
    if rules.max_std_ratio is not None:
        limit = rules.max_std_ratio * abs(mean)
        stable = (std or 0.0) < limit or (std or 0.0) == 0.0
        results.append(RuleResult("max_std_ratio", stable, std, limit,
                                  f"reward std {std or 0.0:.2f} {'<' if stable else '>='} {rules.max_std_ratio:g} x "
                                  f"|mean| = {limit:.2f}"))
    return results
