"""The commands a user types: train, eval, infer, options (and their exit codes and streams)."""

from __future__ import annotations

import json
import subprocess
import sys

from rlops.cli.app import main
from tests.helpers import tiny_args


def test_train_prints_where_to_look_then_eval_and_infer(capsys):
    assert main(["train", *tiny_args("ppo", "--store.run-name", "demo")]) == 0
    out, err = capsys.readouterr()
    assert "run:     rlruns/demo" in out and "model:   rlruns/demo/checkpoints/step-" in out
    assert "log:     rlruns/demo/train.log" in out and "eval:    mean reward" in out
    assert "run demo: ppo on CartPole-v1" in err  # progress messages go to stderr

    assert main(["eval", "rlruns/demo", "--eval.episodes", "3", "--json"]) == 0
    out, _ = capsys.readouterr()
    evaluation = json.loads(out)
    assert evaluation["episodes"] == 3 and len(evaluation["rewards"]) == 3

    assert main(["infer", "rlruns/demo", "--infer.episodes", "2", "--json"]) == 0
    out, _ = capsys.readouterr()
    episodes = [json.loads(line) for line in out.splitlines()]
    assert [e["index"] for e in episodes] == [0, 1]
    assert all(e["length"] == sum(e["actions"].values()) for e in episodes)


def test_train_json_prints_only_json(capsys):
    assert main(["train", *tiny_args("a2c"), "--json"]) == 0
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert summary["status"] == "finished" and summary["model"].startswith(summary["run"])


def test_options_table_and_schema(capsys):
    assert main(["options"]) == 0
    out, _ = capsys.readouterr()
    for needle in ("RL_TRAIN_LEARNING_RATE", "--train.learning-rate", "--tracking-uri", "RL_REGISTRY_DB"):
        assert needle in out
    assert main(["options", "--json"]) == 0
    schema = json.loads(capsys.readouterr()[0])
    lr = schema["$defs"]["TrainOptions"]["properties"]["learning_rate"]
    assert lr["x-env"] == ["RL_TRAIN_LEARNING_RATE"] and lr["x-cli"] == ["--train.learning-rate"]


def test_console_scripts_and_usage_errors():
    # A real process: exit code 2 for a usage error from click itself.
    bad = subprocess.run([sys.executable, "-m", "rlops", "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2 and "No such command" in bad.stderr
    helped = subprocess.run([sys.executable, "-m", "rlops", "train", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--section.key" in helped.stdout
