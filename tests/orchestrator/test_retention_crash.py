"""A janitor killed mid-sweep: ``rlops gc --apply`` in a real subprocess, stopped by a fault at a
chosen call of its prune, leaves marks that the next ``gc --apply`` finishes; no registry row ever
points at a checkpoint that is gone, and a marked run reads as being pruned meanwhile."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.orchestrator.retention import UNFINISHED
from rlops.store.registry import ModelNotFoundError, Registry
from rlops.store.runs import RunStore
from tests.faults import KILLED, environment
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"
LIMITS = ["--orchestrator.max-runs-per-agent", "1"]


@pytest.fixture
def runs() -> dict[str, int]:
    """Three ended runs of one agent, oldest first, each with its registered model: {run: model id}."""
    return {name: train_tiny("a2c", "--store.run-name", name, steps=100).model_id for name in ("r0", "r1", "r2")}


def raw(sql: str, *params: object) -> list[tuple]:
    """The database as it is, past every reader's filter."""
    connection = sqlite3.connect(DB)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def killed_gc(tmp_path: Path, target: str, action: str) -> subprocess.CompletedProcess:
    env = environment({target: action}, tmp_path / "faults")
    return subprocess.run([sys.executable, "-m", "rlops", "gc", "--apply", "--json", *LIMITS], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("target", "action", "directory_left"), [
    ("rlops.store.prunes:finish_prune", "exit", False),  # the directory is gone, nothing recorded yet
    ("rlops.store.prunes:begin_prune", "exit-after", True),  # the intent is written, nothing deleted yet
])
def test_the_next_gc_finishes_what_a_killed_one_began(runs, tmp_path, capsys, target, action, directory_left):
    killed = killed_gc(tmp_path, target, action)
    assert killed.returncode == KILLED, killed.stderr
    # The newest run over the limit (r1) was the first to go: it is marked, and so is its model.
    assert Path("rlruns/r1").exists() is directory_left and Path("rlruns/r0/options.json").is_file()
    assert raw("SELECT pruned FROM runs WHERE run_id = 'r1'") == [("pruning",)]
    assert raw("SELECT id, pruning FROM models WHERE run_id = 'r1'") == [(runs["r1"], "r1")]
    registry, store = Registry(DB), RunStore(DB)
    try:  # readers see a run being pruned and no model for it
        [(checkpoint,)] = raw("SELECT model_path FROM models WHERE run_id = 'r1'")
        assert registry.list(run_id="r1") == [] and registry.by_path(checkpoint) is None
        with pytest.raises(ModelNotFoundError, match="being deleted with the directory of run r1"):
            registry.get(runs["r1"])
        assert store.get_run("r1")["pruned"] == "pruning"
        assert {run["run_id"]: run["pruned"] for run in store.list_runs()} == {"r0": None, "r1": "pruning", "r2": None}
    finally:
        registry.close()
        store.close()

    assert main(["gc", "--apply", "--json", *LIMITS]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(p["run_id"], p["why"], p["done"]) for p in report["prune"]][0] == ("r1", UNFINISHED, True)
    assert {p["run_id"] for p in report["prune"]} == {"r0", "r1"}
    assert not Path("rlruns/r1").exists() and not Path("rlruns/r0").exists() and Path("rlruns/r2").is_dir()
    assert raw("SELECT run_id, pruned FROM runs ORDER BY run_id") == [("r0", "pruned"), ("r1", "pruned"), ("r2", None)]
    store = RunStore(DB)
    try:
        for run in ("r0", "r1"):
            whole = [a for a in store.get_run(run)["artifacts"] if a["path"] == "." and a["action"] == "pruned"]
            assert len(whole) == 1, run  # recorded once, however many janitors it took
    finally:
        store.close()
    models = raw("SELECT id, model_path, pruning FROM models")
    assert [(model_id, pruning) for model_id, _, pruning in models] == [(runs["r2"], None)]
    assert all(Path(path).is_dir() for _, path, _ in models)  # no row points at a deleted checkpoint

    assert main(["gc", "--apply", "--json", *LIMITS]) == 0  # and then there is nothing left to do
    assert json.loads(capsys.readouterr().out)["prune"] == []


def test_a_dry_run_lists_an_unfinished_prune_and_gc_without_limits_finishes_it(runs, tmp_path, capsys):
    assert main(["gc", "--apply"]) == 2  # no limit and nothing begun: nothing to do
    assert "no retention limit is set" in capsys.readouterr().err
    assert killed_gc(tmp_path, "rlops.store.prunes:begin_prune", "exit-after").returncode == KILLED
    assert main(["gc", "--json", *LIMITS]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(p["run_id"], p["why"]) for p in report["prune"]][0] == ("r1", UNFINISHED)
    assert Path("rlruns/r1/options.json").is_file()
    assert raw("SELECT pruned FROM runs WHERE run_id = 'r1'") == [("pruning",)]
    assert main(["gc", "--apply", "--json"]) == 0  # no limit: only what was begun is finished
    assert [(p["run_id"], p["done"]) for p in json.loads(capsys.readouterr().out)["prune"]] == [("r1", True)]
    assert not Path("rlruns/r1").exists() and Path("rlruns/r0/options.json").is_file()
    assert raw("SELECT run_id, pruned FROM runs ORDER BY run_id") == [("r0", None), ("r1", "pruned"), ("r2", None)]
