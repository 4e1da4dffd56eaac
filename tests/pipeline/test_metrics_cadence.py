"""metrics.every_steps (issue 19.5): rollout statistics at their own cadence whatever the rollout
length, and each update's losses once, at the env step the update followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import Metrics
from rlops.events.validate import validate_log
from tests.helpers import train_tiny
from tests.pipeline.vector.helpers import train_vector_tiny

STATISTICS = ("done_rate", "trunc_rate", "reset_rate", "reward_mean", "entropy_mean", "value_mean", "value_std")


def metrics_of(run_dir: Path) -> list[Metrics]:
    log = run_dir / "train_log.jsonl"
    assert validate_log(log).ok  # among the rules: env_steps and opt_steps never decrease
    return [record for _, record in read_records(log) if isinstance(record, Metrics)]


def statistics(metrics: list[Metrics]) -> list[Metrics]:
    return [m for m in metrics if "done_rate" in m.values]


def loss_steps(metrics: list[Metrics]) -> list[int]:
    return [m.env_steps for m in metrics if "train/loss" in m.values or "train/value_loss" in m.values]


def test_ppo_with_long_rollouts_records_statistics_every_n_steps_and_losses_at_each_update():
    # One rollout is 2 x 128 = 256 env steps: SB3 alone would write one record per rollout.
    result = train_tiny("ppo", "--agent.hyperparams", '{"n_steps": 128, "n_epochs": 1}', "--train.batch-size", "128",
                        "--metrics.every-steps", "64", "--train.checkpoint-freq", "0", "--eval.episodes", "1",
                        steps=512)
    metrics = metrics_of(result.run.path)
    assert [m.env_steps for m in statistics(metrics)] == [64, 128, 192, 256, 320, 384, 448, 512]
    for record in statistics(metrics):
        for key in STATISTICS:
            assert key in record.values, (record.env_steps, key)
        assert record.sps > 0 and record.values["time/fps"] > 0
        assert "train/value_loss" not in record.values  # losses come with their update, not the window
    assert loss_steps(metrics) == [256, 512]  # after each update, at the rollout's end
    assert all(m.env_steps <= result.env_steps == 512 for m in metrics)
    losses = [m for m in metrics if "train/value_loss" in m.values]
    assert [m.opt_steps for m in losses] == sorted({m.opt_steps for m in losses}) and losses[0].opt_steps > 0


def test_a_learner_updating_every_few_steps_writes_its_losses_at_most_once_per_cadence():
    # A2C updates every 2 x 5 = 10 env steps; its losses are written at the first update past each 128.
    result = train_tiny("a2c", "--metrics.every-steps", "128", "--train.checkpoint-freq", "0", "--eval.episodes", "1",
                        steps=512)
    metrics = metrics_of(result.run.path)
    steps = loss_steps(metrics)
    assert steps == [130, 260, 390, result.env_steps]  # the last update's too, at the end
    assert steps == sorted(set(steps)) and steps[-1] <= result.env_steps
    assert [s // 128 for s in steps] == sorted({s // 128 for s in steps})  # one per window
    assert [m.env_steps for m in statistics(metrics)] == [128, 256, 384, 512, result.env_steps]


def test_an_off_policy_learner_writes_its_losses_once_per_cadence_at_the_step_of_an_update():
    # DQN updates every 4 env steps once past learning_starts (50).
    result = train_tiny("dqn", "--metrics.every-steps", "64", "--train.checkpoint-freq", "0", "--eval.episodes", "1",
                        steps=256)
    metrics = metrics_of(result.run.path)
    steps = loss_steps(metrics)
    assert steps[0] >= 64 and steps[-1] == result.env_steps == 256
    assert [s // 64 for s in steps] == list(range(1, 5))  # one per window, the last one's at the end
    assert all(s % 4 == 0 for s in steps)  # each right after an update (every train_freq = 4 steps)
    assert [m.env_steps for m in statistics(metrics)] == [64, 128, 192, 256]


@pytest.mark.slow
def test_by_default_an_sb3_run_records_statistics_every_2048_env_steps():
    # One 2 x 2048 = 4096-step rollout: SB3's own log would give the whole run one record.
    result = train_tiny("ppo", "--agent.hyperparams", '{"n_steps": 2048, "n_epochs": 1}', "--train.batch-size", "4096",
                        "--train.checkpoint-freq", "0", "--eval.episodes", "1", steps=4096)
    metrics = metrics_of(result.run.path)
    assert [m.env_steps for m in statistics(metrics)] == [2048, 4096]
    assert loss_steps(metrics) == [4096]


def test_the_vector_engine_records_statistics_mid_rollout_when_asked():
    # 8 envs x 16 steps = 128 env steps a rollout; a record every 32 steps as well.
    result = train_vector_tiny("--metrics.every-steps", "32", "--train.checkpoint-freq", "0", steps=256)
    metrics = metrics_of(result.run.path)
    assert [m.env_steps for m in statistics(metrics)] == [32, 64, 96, 128, 160, 192, 224, 256]
    assert loss_steps(metrics) == [128, 256]
    assert all(m.env_steps <= result.env_steps == 256 for m in metrics)
