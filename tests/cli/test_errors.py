"""Bad input through the real CLI: a short message naming the problem and the fix, a non-zero
exit, and nothing already written is lost."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.pipeline.checkpoints import file_sha256
from tests.helpers import tiny_args, train_tiny


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, env, needles", [
    (["--train.total-timesteps", "lots"], {}, ["train.total_timesteps", "CLI flag --train.total-timesteps", "integer"]),
    (["--train.total-timesteps", "0"], {}, ["train.total_timesteps", "greater than or equal to 1"]),
    ([], {"RL_TRAIN_GAMMA": "1.5"}, ["train.gamma", "environment RL_TRAIN_GAMMA", "less than or equal to 1"]),
    (["--train.learning-rate", "fast"], {}, ["train.learning_rate", "lin_3e-4"]),
    (["--obs.normalize", "sometimes"], {}, ["obs.normalize", "'none', 'obs', 'reward' or 'all'"]),
    (["--agent.net-arch", "[64,"], {}, ["agent.net_arch", "invalid JSON"]),
    (["--train.totl-timesteps", "5"], {}, ["unknown option '--train.totl-timesteps'", "did you mean '--train.total-timesteps'"]),
    ([], {"RL_TRAIN_TOTL_TIMESTEPS": "5"}, ["unknown environment variable 'RL_TRAIN_TOTL_TIMESTEPS'", "RL_TRAIN_TOTAL_TIMESTEPS"]),
    (["--store.backend", "dropbox"], {}, ["store.backend", "mlflow"]),
    (["--train.resume", "maybe"], {}, ["train.resume", "boolean"]),
    (["--train.total-timesteps"], {}, ["--train.total-timesteps needs a value"]),
])
def test_bad_option_values(capsys, monkeypatch, args, env, needles):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_cli(capsys, "train", *args)
    assert code == 2 and out == ""
    for needle in needles:
        assert needle in err
    assert not Path("rlruns").exists()


@pytest.mark.parametrize("content, needles", [
    ("[train\n", ["not valid TOML"]),
    ("[trian]\ntotal_timesteps = 5\n", ["unknown option section 'trian'", "did you mean 'train'"]),
    ("[train]\ntotal_timestep = 5\n", ["unknown option in [train]", "did you mean 'train.total_timesteps'"]),
    ("[train]\ntotal_timesteps = \"many\"\n", ["train.total_timesteps", "file", "[train] total_timesteps"]),
    ("train = 5\n", ["'train' must be a table"]),
])
def test_bad_options_file(capsys, tmp_path, content, needles):
    (tmp_path / "bad.toml").write_text(content)
    code, _, err = run_cli(capsys, "train", "--config", "bad.toml")
    assert code == 2
    for needle in needles:
        assert needle in err


def test_missing_options_file(capsys):
    code, _, err = run_cli(capsys, "train", "--config", "nowhere.toml")
    assert code == 2 and "'nowhere.toml' does not exist" in err


@pytest.mark.parametrize("args, needles", [
    (["--env.env-id", "CartPol-v1"], ["unknown env id 'CartPol-v1'", "did you mean 'CartPole-v1'"]),
    (["--env.env-id", "no_such_module:make"], ["needs module 'no_such_module'"]),
    (["--agent.algorithm", "ppo2"], ["unknown algorithm 'ppo2'", "did you mean 'ppo'", "a2c, dqn, ppo, sac, td3"]),
    (["--agent.algorithm", "dqn", "--env.env-id", "Pendulum-v1"], ["dqn does not support Box action spaces", "ppo, a2c, sac, td3"]),
    (["--agent.algorithm", "sac"], ["sac does not support Discrete action spaces", "ppo, a2c, dqn"]),
    (["--feature.encoder", "cnn"], ["cnn needs image observations", "Box of shape (4,)", "feature.encoder=mlp"]),
    (["--feature.encoder", "lstm"], ["unknown encoder 'lstm'"]),
    (["--feature.encoder", "transformer", "--feature.embed-dim", "6"], ["multiple of 4"]),
    (["--agent.policy-type", "CnnPolicy"], ["CnnPolicy needs image observations"]),
    (["--agent.algorithm", "a2c", "--train.batch-size", "64"], ["train.batch_size does not apply to a2c"]),
    (["--agent.hyperparams", '{"n_step": 5}'], ["unknown ppo hyperparameter 'n_step'", "did you mean 'n_steps'"]),
    (["--agent.hyperparams", '{"learning_rate": 0.1}'], ["sets 'learning_rate', which is the option train.learning_rate"]),
])
def test_incompatible_or_unknown_choices_fail_before_training(capsys, args, needles):
    code, out, err = run_cli(capsys, "train", *args)
    assert code == 2 and out == ""
    for needle in needles:
        assert needle in err
    assert not list(Path().glob("rlruns/*"))  # nothing left behind


def test_existing_run_name_is_not_overwritten(capsys):
    first = train_tiny("a2c", "--store.run-name", "keep")
    before = file_sha256(first.checkpoint.path / "parameters.pt")
    code, _, err = run_cli(capsys, "train", *tiny_args("a2c", "--store.run-name", "keep"))
    assert code == 1 and "run 'keep' already exists" in err and "--train.resume" in err
    assert file_sha256(first.checkpoint.path / "parameters.pt") == before


def test_resume_cannot_change_the_network(capsys):
    train_tiny("a2c", "--store.run-name", "net")
    code, _, err = run_cli(capsys, "train", *tiny_args("a2c", "--store.run-name", "net", "--train.resume",
                                                       "--agent.net-arch", "[32, 32]"))
    assert code == 2 and "agent.net_arch is [32, 32] here but [16] in run net" in err and "drop --agent.net-arch" in err


def test_resume_of_a_missing_run(capsys):
    code, _, err = run_cli(capsys, "train", "--train.resume", "--store.run-name", "ghost")
    assert code == 1 and "no run 'ghost'" in err


def test_missing_checkpoint(capsys):
    code, out, err = run_cli(capsys, "eval", "nowhere/step-000000000100")
    assert code == 1 and out == "" and "does not exist" in err
    code, _, err = run_cli(capsys, "eval")
    assert code == 2 and "no model given" in err


def test_corrupt_checkpoint_is_refused_and_the_run_falls_back(capsys):
    result = train_tiny("a2c", "--train.checkpoint-freq", "128", "--store.run-name", "c")
    newest = result.checkpoint.path
    damaged = newest / "parameters.pt"
    damaged.write_bytes(damaged.read_bytes()[:100])  # truncated, as by a full disk

    code, out, err = run_cli(capsys, "eval", str(newest))
    assert code == 1 and out == "" and "is corrupt" in err and "parameters.pt has 100 bytes" in err

    code, out, err = run_cli(capsys, "eval", str(result.run.path), "--eval.episodes", "1", "--json")
    assert code == 0
    assert json.loads(out)["checkpoint"] != str(newest)  # the previous intact checkpoint was used
    assert "skipping" in err or "corrupt" in err


def test_checkpoint_without_manifest_is_not_a_checkpoint(capsys):
    result = train_tiny("a2c", "--store.run-name", "m")
    (result.checkpoint.path / "manifest.json").unlink()
    code, _, err = run_cli(capsys, "eval", str(result.checkpoint.path))
    assert code == 1 and "has no manifest.json" in err


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_loading_a_checkpoint_never_executes_code_from_it(capsys):
    result = train_tiny("a2c", "--store.run-name", "evil")
    path = result.checkpoint.path
    # A hostile file whose manifest was rewritten to match: the hash check passes, the loader must still refuse.
    with open(path / "parameters.pt", "wb") as handle:
        pickle.dump({"policy": Exploit()}, handle)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["parameters.pt"] = {"sha256": file_sha256(path / "parameters.pt"),
                                          "bytes": (path / "parameters.pt").stat().st_size}
    (path / "manifest.json").write_text(json.dumps(manifest))

    code, _, err = run_cli(capsys, "eval", str(path))
    assert code == 1 and "cannot be loaded safely" in err
    assert not Path("pwned").exists()
