"""``eval.stop_reward``: a periodic evaluation that reaches it ends training early, on both
engines, and the run finishes as at the end of its budget (final evaluation, registry row)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlops.errors import UsageError
from rlops.options import resolve_options
from rlops.services.training import train
from tests.pipeline.vector.helpers import train_vector_tiny

SB3_TINY = ["--env.env-id", "CartPole-v1", "--env.n-envs", "1", "--agent.algorithm", "ppo", "--agent.net-arch", "[16]",
            "--agent.hyperparams", '{"n_steps": 32, "n_epochs": 1}', "--train.batch-size", "32", "--env.seed", "1",
            "--eval.episodes", "2", "--train.device", "cpu", "--train.checkpoint-freq", "0"]


def records(run, kind):
    lines = [json.loads(line) for line in run.events_file.read_text().splitlines()]
    return [r for r in lines if r["type"] == kind]


def test_vector_run_stops_at_the_first_evaluation_that_reaches_the_reward():
    # CartPole pays 1 a step: every evaluation scores >= 8, so the first one at 128 steps ends it.
    result = train_vector_tiny("--eval.freq", "128", "--eval.stop-reward", "8", steps=1024)
    assert result.status == "finished" and result.env_steps == 128
    evals = records(result.run, "eval")
    assert [e["env_steps"] for e in evals] == [128, 128]  # the periodic one, then the final (recorded) one
    assert records(result.run, "step") and records(result.run, "end")[-1]["status"] == "finished"
    assert result.model_id is not None and result.checkpoint.env_steps == 128


def test_vector_run_trains_on_while_evaluations_fall_short():
    result = train_vector_tiny("--eval.freq", "128", "--eval.stop-reward", "1e9", steps=384)
    assert result.env_steps == 384 and [e["env_steps"] for e in records(result.run, "eval")] == [128, 256, 384, 384]


def test_sb3_run_stops_at_the_first_evaluation_that_reaches_the_reward():
    options = resolve_options(environ={}, args=[*SB3_TINY, "--train.total-timesteps", "512", "--eval.freq", "64",
                                                "--eval.stop-reward", "8"]).options
    result = train(options, progress=False)
    assert result.status == "finished" and result.checkpoint.env_steps == 64
    assert [e["env_steps"] for e in records(result.run, "eval")] == [64, 64]
    assert records(result.run, "end")[-1]["status"] == "finished" and result.model_id is not None


@pytest.mark.parametrize("engine", ["sb3", "vector"])
def test_stop_reward_without_periodic_evaluations_fails_before_training(engine):
    options = resolve_options(environ={}, args=[*SB3_TINY, "--train.engine", engine, "--train.total-timesteps", "64",
                                                "--eval.stop-reward", "475"]).options
    with pytest.raises(UsageError, match="eval.stop_reward 475 needs periodic evaluations") as caught:
        train(options, progress=False)
    assert "eval.freq" in caught.value.hint
    assert not list(Path("rlruns").glob("*/train_log.jsonl"))  # no run began
