"""RUN means one thing to every command: the id ``rlops runs list`` prints, the run's directory, or
its event log, resolved by one function (rlops.services.run_ref)."""

from __future__ import annotations

import json

from rlops.cli.app import main
from tests.helpers import tiny_args


def _three_ways(run_dir: str) -> list[str]:
    return ["demo", run_dir, f"{run_dir}/train_log.jsonl"]


def test_every_command_that_takes_a_run_takes_its_id_its_directory_or_its_log(capsys, tmp_path):
    assert main(["train", *tiny_args("ppo", "--store.run-name", "demo"), "--json"]) == 0
    trained = json.loads(capsys.readouterr()[0])
    for ref in _three_ways(trained["run"]):
        assert main(["runs", "show", ref, "--json"]) == 0, ref
        assert json.loads(capsys.readouterr()[0])["run_id"] == "demo"
    for ref in _three_ways(trained["run"]):
        assert main(["plot", ref, "-o", str(tmp_path / "p.png"), "--json"]) == 0, ref
        assert json.loads(capsys.readouterr()[0])["png"].endswith("p.png")
        assert main(["log", "validate", ref, "--json"]) == 0, ref
        assert json.loads(capsys.readouterr()[0])["records"] > 0
    assert main(["rollout", "--model", "demo", "--steps", "5", "-o", "roll", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["frames"] == 5
    assert main(["eval", "demo", "--eval.episodes", "1", "--json"]) == 0
    assert "rlruns/demo/checkpoints/step-" in json.loads(capsys.readouterr()[0])["checkpoint"]
    assert main(["export", "demo", "--to", "tensorboard"]) in (0, 1)
    err = capsys.readouterr()[1]
    assert "unknown run" not in err and "run directory" not in err

    for command in (["runs", "show", "dem"], ["plot", "dem"], ["log", "validate", "dem"], ["export", "dem", "--to",
                    "tensorboard"], ["rollout", "--model", "dem"], ["eval", "dem"]):
        assert main(command) == 2, command
        err = capsys.readouterr()[1]
        assert "unknown run 'dem'; did you mean 'demo'?" in err, (command, err)
