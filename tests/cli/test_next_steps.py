"""The commands a summary prints work as printed when the store is not the default one."""

from __future__ import annotations

import re
import shlex

from rlops.cli.app import main
from tests.helpers import tiny_args


def _printed(out: str, label: str) -> list[list[str]]:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return [shlex.split(command) for command in re.findall(r"rlops [^,()]+", line)]


def test_train_with_a_config_elsewhere_prints_commands_that_find_its_store(capsys, tmp_path):
    (tmp_path / "seed.toml").write_text('[registry]\ndb_path = "./rl_registry.db"\n[store]\nrun_name = "seeded"\n')
    assert main(["train", "--config", "seed.toml", *tiny_args("a2c")]) == 0
    out = capsys.readouterr()[0]
    commands = _printed(out, "store:") + _printed(out, "next:")
    assert [c[:3] for c in commands] == [["rlops", "runs", "show"], ["rlops", "registry", "list"],
                                         ["rlops", "eval", commands[2][2]]]
    for command in commands:
        assert "--config" in command, command
        assert main([*command[1:], *(["--eval.episodes", "1"] if command[1] == "eval" else [])]) == 0, command
        printed = capsys.readouterr()[0]
        assert "seeded" in printed or "rl_registry.db" in printed or "mean reward" in printed


def test_a_store_set_by_flag_is_carried_into_the_printed_commands(capsys):
    assert main(["train", *tiny_args("a2c"), "--registry.db-path", "elsewhere.db", "--store.run-name", "flagged"]) == 0
    out = capsys.readouterr()[0]
    show = _printed(out, "store:")[0]
    assert show[-2:] == ["--store.db-path", "elsewhere.db"]  # given by its old name, said by its new
    assert main(show[1:]) == 0 and "flagged" in capsys.readouterr()[0]
