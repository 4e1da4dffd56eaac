"""Validation rules for a registered model: pure, each reported on its own.

The seed's rules: the mean evaluation reward reaches ``min_reward``; enough evaluation episodes
back it (``min_episodes``); and it is stable, ``std < max_std_ratio * |mean|`` (0.5 in the seed;
the absolute value keeps the rule meaningful for negative rewards such as Pendulum's). Where
``min_reward`` is unset, the env's own ``spec.reward_threshold`` is the bar (CartPole-v1: 475):
"validated" should mean the policy solves the task, not that it was evaluated. Each result says
where its threshold came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rules:
    min_reward: float | None = None
    min_episodes: int = 10
    max_std_ratio: float | None = 0.5
    # The env's solved threshold (gymnasium's spec.reward_threshold), for when min_reward is unset.
    env_threshold: Callable[[str], float | None] | None = None

    def reward_bar(self, env_id: str | None) -> tuple[float | None, str]:
        """(the threshold a model of ``env_id`` must reach, where it came from)."""
        if self.min_reward is not None:
            return self.min_reward, "registry.min_reward"
        threshold = self.env_threshold(env_id) if self.env_threshold is not None and env_id else None
        if threshold is not None:
            return threshold, f"{env_id}'s spec.reward_threshold"
        return None, f"registry.min_reward is unset and {env_id or 'the env'} has no spec.reward_threshold"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    passed: bool
    actual: float | None
    threshold: float | None
    message: str
    source: str | None = None  # where the threshold came from (an option, the env's spec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(model: dict[str, Any], rules: Rules) -> list[RuleResult]:
    """Every rule with its outcome; a model without an evaluation fails with that reason."""
    mean, std, episodes = model.get("mean_reward"), model.get("std_reward"), model.get("eval_episodes")
    if mean is None:
        return [RuleResult("evaluated", False, None, None,
                           f"model {model.get('id')} has no evaluation: run 'rlops eval --model-id {model.get('id')}'")]
    results = []
    bar, source = rules.reward_bar(model.get("env_id"))
    if bar is not None:
        results.append(RuleResult("min_reward", mean >= bar, mean, bar,
                                  f"mean reward {mean:.2f} {'>=' if mean >= bar else '<'} min_reward {bar:g} ({source})",
                                  source))
    else:
        results.append(RuleResult("min_reward", True, mean, None, f"no reward threshold: {source}", source))
    episodes = int(episodes or 0)
    results.append(RuleResult("min_episodes", episodes >= rules.min_episodes, episodes, rules.min_episodes,
                              f"{episodes} evaluation episodes {'>=' if episodes >= rules.min_episodes else '<'} "
                              f"min_episodes {rules.min_episodes}", "registry.min_episodes"))
    if rules.max_std_ratio is not None:
        results.append(_stability(mean, std or 0.0, rules.max_std_ratio))
    return results


def _stability(mean: float, std: float, ratio: float) -> RuleResult:
    limit = ratio * abs(mean)
    # std < limit: a zero std passes beside a non-zero mean, but not beside a zero one (0 < 0 is
    # false): a constant 0.00 return says nothing about a policy being stable.
    stable = std < limit
    why = " (a constant zero return shows nothing)" if std == 0.0 and mean == 0.0 else ""
    return RuleResult("max_std_ratio", stable, std, limit,
                      f"reward std {std:.2f} {'<' if stable else '>='} {ratio:g} x |mean| = {limit:.2f}{why}",
                      "registry.max_std_ratio")
