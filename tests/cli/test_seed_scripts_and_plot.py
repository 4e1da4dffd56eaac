"""The seed's other command names are installed and do what the seed says; rlops plot draws the
episode return from episode records and says nothing about panels a run never had."""

from __future__ import annotations

import importlib
import json
import sys
import tomllib
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.events.plot import collect, panels_for, running_mean
from tests.helpers import train_tiny

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _script(name: str):
    target = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"][name]
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


def _run(monkeypatch, name: str, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", [name, *args])
    with pytest.raises(SystemExit) as done:
        _script(name)()
    return done.value.code


def test_the_seeds_registry_scripts_add_with_metrics_load_and_load_best(monkeypatch, capsys, tmp_path):
    result = train_tiny("ppo", "--registry.enable", "false")
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"mean_reward": 500.0, "std_reward": 0.5, "episodes": 10}))
    assert _run(monkeypatch, "rl-registry-add", str(result.checkpoint.path), str(metrics)) == 0
    out = capsys.readouterr()[0]
    assert out.strip() == "registered model 1: validated"
    assert _run(monkeypatch, "rl-registry-load", "1") == 0
    assert capsys.readouterr()[0].strip() == str(result.checkpoint.path.resolve())
    assert _run(monkeypatch, "rl-load-best", "--infer.episodes", "1") == 0
    out, err = capsys.readouterr()
    assert out.startswith("episode 0: reward") and "model 1: ppo on CartPole-v1, mean reward 500.00" in err
    metrics.write_text("{not json")
    assert _run(monkeypatch, "rl-registry-add", str(result.checkpoint.path), str(metrics)) == 2
    assert "cannot read the metrics in" in capsys.readouterr()[1]

    # plot, on the same run: episode returns from episode records, no chatter about absent panels
    series = collect(result.run.events_file)
    panels, _ = panels_for(series)
    episode_panel = next(p for p in panels if p.title == "episode return")
    assert "reward_mean" not in episode_panel.lines and series.episodes[0]
    assert main(["plot", str(result.run.path), "-o", str(tmp_path / "p.png")]) == 0
    assert "skipped panel" not in capsys.readouterr()[1]


def test_running_mean_is_the_mean_of_the_last_window():
    assert running_mean([1.0, 3.0, 5.0, 7.0], window=2) == [1.0, 2.0, 4.0, 6.0]
