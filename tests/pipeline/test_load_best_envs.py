"""--load-best never ranks models of different envs against each other, and says which model it
loaded and why; registry show says where a reward threshold came from."""

from __future__ import annotations

from pathlib import Path

from rlops.cli.app import main
from rlops.store.registry import Registry
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"


def test_load_best_picks_within_one_env_and_says_which_model(capsys, tmp_path):
    result = train_tiny("ppo", "--registry.min-reward", "0", "--registry.min-episodes", "2",
                        "--registry.max-std-ratio", "10")
    assert result.validation.validated
    model_id = result.model_id

    assert main(["infer", "--load-best", "--infer.episodes", "1"]) == 0
    err = capsys.readouterr()[1]
    assert f"model {model_id}: ppo on CartPole-v1, mean reward" in err
    assert "the best validated model for CartPole-v1 (the only env with validated models" in err

    # A validated model of another env: --load-best alone would compare 475-scale with -1500-scale rewards.
    registry = Registry(DB)
    other = registry.add(tmp_path / "elsewhere", "sac", "Pendulum-v1", total_timesteps=100)
    registry.set_evaluation(other, -150.0, 10.0, 200.0, 10)
    registry.set_validation(other, True, [])
    registry.close()
    assert main(["infer", "--load-best", "--infer.episodes", "1"]) == 2
    err = capsys.readouterr()[1]
    assert "(CartPole-v1, Pendulum-v1): their rewards are not comparable" in err and "--env CartPole-v1" in err
    assert main(["infer", "--load-best", "--env", "CartPole-v1", "--infer.episodes", "1"]) == 0
    assert f"model {model_id}: ppo on CartPole-v1" in capsys.readouterr()[1]


def test_registry_show_says_where_the_threshold_came_from(capsys):
    result = train_tiny("ppo", "--registry.min-episodes", "2")  # min_reward unset: CartPole-v1's 475
    assert not result.validation.validated
    assert main(["registry", "show", str(result.model_id)]) == 0
    out = capsys.readouterr()[0]
    assert "FAIL  mean reward" in out and "< min_reward 475 (CartPole-v1's spec.reward_threshold)" in out
    assert Path(DB).is_file()
