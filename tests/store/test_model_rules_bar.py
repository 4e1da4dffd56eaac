"""What "validated" asks of a model: the env's solved threshold where no min_reward is set, said
where each threshold came from, and no stability from a constant zero return."""

from __future__ import annotations

from rlops.options.schema import RegistryOptions
from rlops.services.registry_ops import rules_from
from rlops.store.model_rules import Rules, check


def _model(env_id: str, mean: float, std: float, episodes: int = 10) -> dict:
    return {"id": 1, "env_id": env_id, "mean_reward": mean, "std_reward": std, "eval_episodes": episodes}


def _by_rule(results) -> dict:
    return {r.rule: r for r in results}


def test_unset_min_reward_takes_the_envs_reward_threshold():
    rules = rules_from(RegistryOptions())
    bar = _by_rule(check(_model("CartPole-v1", 57.7, 5.0), rules))["min_reward"]
    assert not bar.passed and bar.threshold == 475.0
    assert bar.source == "CartPole-v1's spec.reward_threshold" and "(CartPole-v1's spec.reward_threshold)" in bar.message
    assert _by_rule(check(_model("CartPole-v1", 500.0, 0.0), rules))["min_reward"].passed
    lunar = _by_rule(check(_model("LunarLander-v3", 150.0, 20.0), rules))["min_reward"]
    assert not lunar.passed and lunar.threshold == 200.0


def test_an_explicit_min_reward_wins_and_says_so():
    rules = rules_from(RegistryOptions(min_reward=50.0))
    bar = _by_rule(check(_model("CartPole-v1", 57.7, 5.0), rules))["min_reward"]
    assert bar.passed and bar.threshold == 50.0 and bar.source == "registry.min_reward"
    assert "(registry.min_reward)" in bar.message


def test_an_env_without_a_threshold_is_noted_not_silently_passed():
    bar = _by_rule(check(_model("Pendulum-v1", -1200.0, 100.0), rules_from(RegistryOptions())))["min_reward"]
    assert bar.threshold is None
    assert bar.message == ("no reward threshold: registry.min_reward is unset and Pendulum-v1 has no "
                           "spec.reward_threshold")


def test_stability_fails_when_both_sides_are_zero():
    zero = _by_rule(check(_model("forex-v0", 0.0, 0.0), Rules()))["max_std_ratio"]
    assert not zero.passed and "constant zero return" in zero.message
    assert _by_rule(check(_model("forex-v0", 5.0, 0.0), Rules()))["max_std_ratio"].passed
    assert not _by_rule(check(_model("Pendulum-v1", -200.0, 150.0), Rules()))["max_std_ratio"].passed
