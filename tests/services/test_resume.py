"""Resume is one library call, ``train(options, resume=True)``, and the CLI is that call: the run's
saved options come back with only what is set now laid over them, and a change to what shapes
the network is refused before anything is written."""

from __future__ import annotations

import json

import pytest

from rlops.cli.app import main
from rlops.errors import OptionsError
from rlops.options import resolve_options
from rlops.services.training import train
from tests.helpers import tiny_args, train_tiny


def first_run(*extra: str):
    """A tiny A2C run of 120 steps (rollouts of 5 steps x 2 envs) whose options differ from the
    defaults (net_arch [16], 2 envs, 2 eval episodes) and whose seed was drawn, not given."""
    args = tiny_args("a2c", *extra, steps=120)
    seed_at = args.index("--env.seed")
    del args[seed_at:seed_at + 2]
    options = resolve_options(environ={}, args=[*args, "--store.run-name", "first"]).options
    result = train(options, progress=False)
    assert result.status == "finished" and result.env_steps == 120
    return result


def resume_args(*extra: str) -> list[str]:
    return ["--store.run-name", "first", "--train.total-timesteps", "240", *extra]


def test_the_library_resumes_with_the_saved_options_and_the_new_ones_over_them():
    first = first_run()
    saved = json.loads(first.run.options_file.read_text())
    # Nothing but the run, the new budget and a new eval count: the rest must come from the run.
    options = resolve_options(environ={}, args=resume_args("--eval.episodes", "3")).options
    resumed = train(options, progress=False, resume=True)
    assert resumed.status == "finished" and resumed.env_steps == 240
    assert resumed.run.path == first.run.path
    assert resumed.options.agent.net_arch == [16] and resumed.options.env.n_envs == 2
    assert resumed.options.env.seed == saved["env"]["seed"]  # the drawn seed, kept
    assert resumed.options.eval.episodes == 3 and resumed.evaluation.episodes == 3
    records = [json.loads(line) for line in first.run.events_file.read_text().splitlines()]
    [resume] = [r for r in records if r["type"] == "resume"]
    assert resume["env_steps"] == 120 and resume["checkpoint"] == "checkpoints/step-000000000120"
    assert json.loads(first.run.options_file.read_text())["train"]["total_timesteps"] == 240


@pytest.mark.parametrize(("flag", "value", "named"), [
    ("--agent.net-arch", "[32]", "agent.net_arch is [32] here but [16]"),
    ("--env.env-id", "Acrobot-v1", "env.env_id is 'Acrobot-v1' here but 'CartPole-v1'"),
    ("--obs.normalize", "obs", "obs.normalize is 'obs' here but 'none'"),
])
def test_the_library_refuses_a_change_to_what_shapes_the_network(flag, value, named):
    first = first_run()
    log_before = first.run.events_file.read_bytes()
    options = resolve_options(environ={}, args=resume_args(flag, value)).options
    with pytest.raises(OptionsError) as caught:
        train(options, progress=False, resume=True)
    assert named in caught.value.message and "run first" in caught.value.message
    assert f"drop {flag}" in caught.value.hint and "start a new run" in caught.value.hint
    assert first.run.events_file.read_bytes() == log_before  # refused before anything was written
    assert json.loads(first.run.options_file.read_text())["train"]["total_timesteps"] == 120


def test_train_resume_in_the_options_is_the_same_call():
    first_run()
    resumed = train_tiny("a2c", "--train.resume", "--store.run-name", "first", steps=240)
    assert resumed.env_steps == 240 and resumed.options.train.resume


def test_the_cli_resumes_through_the_library(capsys):
    first = first_run()
    code = main(["train", "--json", "--train.resume", *resume_args()])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "finished" and summary["env_steps"] == 240
    assert summary["run"] == str(first.run.path)
    assert json.loads(first.run.options_file.read_text())["agent"]["net_arch"] == [16]


def test_the_cli_refuses_a_change_to_what_shapes_the_network(capsys):
    first = first_run()
    code = main(["train", "--train.resume", *resume_args("--agent.net-arch", "[32]")])
    err = capsys.readouterr().err
    assert code != 0
    assert "agent.net_arch is [32] here but [16] in run first" in err and "drop --agent.net-arch" in err
    assert json.loads(first.run.options_file.read_text())["train"]["total_timesteps"] == 120
