"""Sweeps: grid and random combinations, checked before anything is queued, run under the
concurrency limit by a real daemon, ranked by best evaluation."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.errors import UsageError
from rlops.orchestrator.sweep import Axis, combinations, parse_axis


def test_grid_and_random_combinations():
    axes = [parse_axis("train.learning_rate=1e-4,3e-4"), parse_axis("--agent.algorithm=ppo,a2c")]
    assert combinations(axes, None, 0) == [
        {"train.learning_rate": lr, "agent.algorithm": algo} for lr in ("1e-4", "3e-4") for algo in ("ppo", "a2c")]
    drawn = combinations([parse_axis("train.gamma=uniform:0.9:0.999"), parse_axis("train.batch_size=int:32:256"),
                          parse_axis("train.learning_rate=loguniform:1e-5:1e-3")], 6, seed=1)
    assert len(drawn) == 6 and len({tuple(d.items()) for d in drawn}) == 6
    for combo in drawn:
        assert 0.9 <= float(combo["train.gamma"]) <= 0.999 and 32 <= int(combo["train.batch_size"]) <= 256
        assert 1e-5 <= float(combo["train.learning_rate"]) <= 1e-3
    assert combinations(axes, 2, seed=1) == combinations(axes, 2, seed=1)  # reproducible
    assert len(combinations([Axis("a.b", values=("1", "2"))], 5, 0)) == 2  # only two distinct exist
    with pytest.raises(UsageError, match="needs random search"):
        combinations([parse_axis("train.gamma=uniform:0.9:0.99")], None, 0)
    for bad in ("learning_rate=1", "train.gamma=", "train.gamma=loguniform:0:1", "train.gamma=uniform:x:1"):
        with pytest.raises(UsageError):
            parse_axis(bad)


@pytest.mark.slow  # a sweep of trainings under the daemon: 73 s at load 12
def test_a_sweep_runs_under_the_daemon_and_is_ranked(capsys):
    common = ["--env.env-id", "CartPole-v1", "--env.n-envs", "2", "--train.total-timesteps", "256",
              "--train.device", "cpu", "--agent.net-arch", "[16]", "--eval.episodes", "2",
              "--orchestrator.max-concurrent", "2", "--orchestrator.poll-interval", "0.2"]
    try:
        code = main(["sweep", "--grid", "agent.algorithm=ppo,a2c", "--seeds", "2", "--name", "sw", "--json",
                     *common, "--agent.hyperparams", '{"n_steps": 64}'])  # short rollouts for both
        out = capsys.readouterr().out
    finally:
        lock = Path("rlruns/daemon.lock")
        if lock.exists() and lock.read_text().strip():
            os.kill(int(lock.read_text()), signal.SIGTERM)
    assert code == 0, out
    ranked = json.loads(out)
    assert sorted(r["run"] for r in ranked) == [f"sw-{i:03d}" for i in range(4)]
    assert {(r["agent.algorithm"], r["seed"]) for r in ranked} == {(a, s) for a in ("ppo", "a2c") for s in (0, 1)}
    assert all(r["status"] == "finished" and r["best_eval"] is not None for r in ranked)
    evals = [r["best_eval"] for r in ranked]
    assert evals == sorted(evals, reverse=True)


def test_a_bad_value_queues_nothing(capsys):
    assert main(["sweep", "--grid", "train.learning_rate=1e-3,fast", "--no-wait"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not Path("rlruns").exists() or not [p for p in Path("rlruns").iterdir() if p.is_dir()]
