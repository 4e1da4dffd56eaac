"""What a command costs before it does anything: help and the run list import no training stack,
and what the help lists is every command there is."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlops.cli.app import COMMANDS, main

HEAVY = ("torch", "stable_baselines3", "gymnasium", "fastapi", "numpy", "mlflow", "uvicorn", "opentelemetry")


def _imported_by(args: list[str], cwd) -> list[str]:
    """The heavy modules a real process has imported once the command returned."""
    script = ("import sys, json, contextlib, io\n"
              "from rlops.cli.app import main\n"
              "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
              f"    code = main({args!r})\n"
              f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
              "print(json.dumps({'code': code, 'heavy': heavy}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    return result["heavy"]


@pytest.mark.parametrize("args", [["--help"], ["runs", "list"], ["runs", "--help"], ["registry", "--help"],
                                  ["train", "--help"]])
def test_help_and_the_run_list_import_no_training_stack(args, tmp_path):
    assert _imported_by(args, tmp_path) == []


def test_rlops_help_answers_fast(tmp_path):
    # The acceptance figure is < 0.5 s on an idle machine. Wall time on a shared machine is the
    # neighbours' as much as ours, so this counts the CPU the help process itself spent (about 0.3 s;
    # 3-6 s when it imported the training stack): the bound catches that, under any load.
    stdout = os.open(tmp_path / "help.txt", os.O_WRONLY | os.O_CREAT)
    try:
        pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "rlops", "--help"], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, stdout, 1)])
    finally:
        os.close(stdout)
    _, status, usage = os.wait4(pid, 0)  # this child's own CPU time, no other's
    assert os.waitstatus_to_exitcode(status) == 0 and "Usage" in (tmp_path / "help.txt").read_text()
    assert usage.ru_utime + usage.ru_stime < 1.0, f"rlops --help took {usage.ru_utime + usage.ru_stime:.2f} s of CPU"


def test_top_level_help_names_every_runs_subcommand(capsys):
    assert main(["runs", "--help"]) == 0
    capsys.readouterr()
    from rlops.cli.commands_runs import app as runs_app

    names = [command.name for command in runs_app.registered_commands]
    assert {"list", "show", "reindex", "start", "stop", "logs", "watch", "runners", "daemon"} <= set(names)
    assert main(["--help"]) == 0
    top = " ".join(capsys.readouterr().out.split())
    runs_line = top[top.index("runs "):top.index("registry ")]
    assert all(f"{name}," in runs_line or f"{name}." in runs_line for name in names), runs_line


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda entry: entry.name)
def test_each_listed_help_is_the_commands_own(entry, capsys):
    assert main([entry.name, "--help"]) == 0  # each command loads when asked
    from rlops.cli.app import app

    real = app.commands[entry.name].load()
    own = " ".join((real.help or "").split("\n\n")[0].split())
    assert own == entry.short_help, (f"rlops --help lists {entry.name!r} as {entry.short_help!r} but its docstring "
                                     f"says {own!r}: update COMMANDS in src/rlops/cli/app.py")


def test_train_help_shows_the_sections_and_the_most_used_options(capsys):
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--env.env-id", "--agent.algorithm", "--train.total-timesteps", "--env.n-envs",
                 "--agent.hyperparams", "--store.run-name", "--eval.episodes"):
        assert flag in out
    assert "Sections: env, obs, feature, agent, train, eval" in out and "rlops options" in out
