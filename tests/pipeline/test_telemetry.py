"""The event log a training run writes: schema-valid, complete, and loud on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlops.errors import TrainingError
from rlops.events.reader import BadLine, read_records
from rlops.events.schema import Checkpoint, End, Episode, Eval, Meta, Metrics, Resume
from tests.helpers import train_tiny


def records(run_dir: Path) -> list:
    found = [record for _, record in read_records(run_dir / "train_log.jsonl")]
    assert not [r for r in found if isinstance(r, BadLine)]
    return found


def test_a_run_logs_meta_metrics_episodes_checkpoints_eval_and_end():
    result = train_tiny("ppo", "--train.checkpoint-freq", "128", "--metrics.every-steps", "128", steps=512)
    log = records(result.run.path)
    assert isinstance(log[0], Meta) and log[0].config["agent"]["algorithm"] == "ppo" and log[0].seed == 1
    assert log[0].versions["stable-baselines3"] and log[0].hashes["env_spec"]
    assert isinstance(log[-1], End) and log[-1].status == "finished" and log[-1].env_steps == result.env_steps
    assert [r.seq for r in log] == list(range(len(log)))
    assert len({r.run_id for r in log}) == 1 and all(len(r.trace_id) == 32 for r in log)

    metrics = [r for r in log if isinstance(r, Metrics)]
    assert metrics and all(m.env_steps > 0 for m in metrics)
    steps = [m.env_steps for m in metrics]
    assert steps == sorted(steps)
    values = metrics[-2].values  # the last window's rollout statistics...
    for key in ("done_rate", "reward_mean", "rollout/ep_rew_mean", "time/fps"):
        assert key in values, key
    assert "action_hist" in values and sum(values["action_hist"]) > 0
    # ...and the last update's losses, at the step it followed (SB3 itself dumps only before each update).
    assert "train/value_loss" in metrics[-1].values and "train/approx_kl" in metrics[-1].values
    assert metrics[-1].env_steps == metrics[-2].env_steps == result.env_steps
    assert metrics[-1].sps == metrics[-2].sps > 0

    episodes = [r for r in log if isinstance(r, Episode)]
    assert episodes and all(e.length > 0 and e.episode_return == e.length for e in episodes)  # CartPole: +1 a step
    checkpoints = [r for r in log if isinstance(r, Checkpoint)]
    assert [c.env_steps for c in checkpoints][-1] == result.env_steps
    assert all((result.run.path / c.path / "manifest.json").is_file() for c in checkpoints)
    assert checkpoints[-1].sha256 == result.checkpoint.sha256
    evals = [r for r in log if isinstance(r, Eval)]
    assert evals[-1].checkpoint == checkpoints[-1].path and evals[-1].episodes == 2


def test_a_resumed_run_continues_the_log_with_a_resume_record():
    first = train_tiny("a2c", "--train.checkpoint-freq", "100", "--store.run-name", "again", steps=200)
    train_tiny("a2c", "--train.checkpoint-freq", "100", "--store.run-name", "again", "--train.resume", steps=400)
    log = records(first.run.path)
    assert [r.seq for r in log] == list(range(len(log)))
    resumes = [r for r in log if isinstance(r, Resume)]
    assert len(resumes) == 1 and resumes[0].env_steps == first.env_steps
    ends = [r for r in log if isinstance(r, End)]
    assert [e.status for e in ends] == ["finished", "finished"] and ends[-1].env_steps >= 400


def test_an_env_that_raises_leaves_a_receipt_an_error_and_a_failed_end():
    with pytest.raises(RuntimeError, match="simulator exploded") as caught:
        train_tiny("ppo", "--env.env-id", "tests.envs:failing", "--env.env-kwargs", '{"fail_at": 100}')
    receipt = caught.value.receipt
    log = records(receipt.parent.parent)
    error = next(r for r in log if r.type == "error")
    assert "simulator exploded" in error.message and error.receipt == f"receipts/{receipt.name}"
    assert receipt.name == error.trace_id
    assert isinstance(log[-1], End) and log[-1].status == "failed" and "simulator exploded" in log[-1].reason
    assert "simulator exploded" in (receipt / "traceback.txt").read_text()
    assert json.loads((receipt / "options.json").read_text())["env"]["env_id"] == "tests.envs:failing"
    assert (receipt / "last_steps.npz").is_file() and (receipt / "last_observations.npy").is_file()
    assert (receipt / "frame_env0.png").is_file() and (receipt / "last_frames.npy").is_file()
    assert json.loads((receipt / "receipt.json").read_text())["trace_id"] == receipt.name


def test_a_nan_reward_stops_training_with_a_receipt():
    with pytest.raises(TrainingError, match="returned reward nan") as caught:
        train_tiny("ppo", "--env.env-id", "tests.envs:nan_reward", "--env.env-kwargs", '{"nan_at": 20}')
    receipt = caught.value.receipt
    assert (receipt / "traceback.txt").is_file()
    log = records(receipt.parent.parent)
    assert isinstance(log[-1], End) and log[-1].status == "failed" and "reward nan" in log[-1].reason


# SB3's explained_variance warns about the overflowing returns before the weights go NaN.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_diverged_learner_stops_training_with_a_receipt():
    with pytest.raises(TrainingError, match="diverged") as caught:
        train_tiny("ppo", "--env.env-id", "tests.envs:huge_reward")
    log = records(caught.value.receipt.parent.parent)
    assert isinstance(log[-1], End) and log[-1].status == "failed"
    assert any(r.type == "error" and "diverged" in r.message for r in log)
