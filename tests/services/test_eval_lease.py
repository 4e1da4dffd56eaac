"""``rlops eval`` while ``rlops gc --apply`` runs: the evaluation (a real subprocess, held by a
fault right after its episodes played) holds its model, so the janitor keeps the run and says why;
and where the row goes anyway, the score is printed and kept, never lost behind an error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.store.registry import Registry
from tests.faults import environment, wait_for
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"
LIMITS = ["--orchestrator.max-runs-per-agent", "1"]


@pytest.fixture
def runs() -> dict[str, int]:
    """Two ended runs of one agent, oldest first: {run: model id}; gc's limit retires r0."""
    return {name: train_tiny("a2c", "--store.run-name", name, steps=100).model_id for name in ("r0", "r1")}


def paused_eval(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """``rlops eval rlruns/r0`` in a subprocess, held after its episodes until the returned path exists."""
    go = tmp_path / "go"
    env = environment({"rlops.pipeline.evaluate:evaluate_policy_of": f"pause:{go}"}, tmp_path / "faults")
    process = subprocess.Popen([sys.executable, "-m", "rlops", "eval", "rlruns/r0", "--eval.episodes", "2", "--json"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(go.with_name("go.ready"), process)
    return process, go


def finish(process: subprocess.Popen, go: Path) -> tuple[int, dict, str]:
    go.touch()
    out, err = process.communicate(timeout=120)
    return process.returncode, json.loads(out), err


@pytest.mark.slow  # a training and an evaluation process: 36 s at load 12
def test_the_janitor_keeps_a_run_whose_model_is_being_evaluated(runs, tmp_path, capsys):
    process, go = paused_eval(tmp_path)
    try:
        assert main(["gc", "--apply", "--json", *LIMITS]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["prune"] == []
        [kept] = report["kept"]
        assert kept["run_id"] == "r0" and f"holds model {runs['r0']} (held by rlops eval, pid {process.pid}" in \
            kept["kept_because"]
        assert Path("rlruns/r0/options.json").is_file()
    finally:
        code, result, err = finish(process, go)
    assert code == 0, err
    assert result["model_id"] == runs["r0"] and result["episodes"] == 2 and "recorded" not in result
    registry = Registry(DB)
    try:
        assert registry.get(runs["r0"])["eval_episodes"] == 2  # the score is on its row
        assert registry.holders() == {}  # released with the evaluation
    finally:
        registry.close()
    assert main(["gc", "--apply", "--json", *LIMITS]) == 0  # no longer held: now it goes
    assert [p["run_id"] for p in json.loads(capsys.readouterr().out)["prune"]] == ["r0"]


def test_a_long_evaluation_keeps_its_lease_past_the_first_term(runs, monkeypatch, capsys):
    """Renewed in the background: seen from another connection after more than a term, still held."""
    from rlops.services import scoring

    monkeypatch.setattr(scoring, "LEASE_TTL_S", 2.0)
    monkeypatch.setattr(scoring, "RENEW_EVERY_S", 0.05)
    evaluate, seen = scoring.evaluate_policy_of, {}

    def slow(*args, **kwargs):  # a delay at the instant a long evaluation would be in its episodes
        started = time.time()
        time.sleep(3.5)  # past the first term (2 s), which a loaded machine's scheduling cannot stretch
        registry = Registry(DB)
        try:
            seen.update(holders=registry.holders(), leases=registry.connection.execute(
                "SELECT model_id, expires - ? FROM model_leases", (started,)).fetchall())
        finally:
            registry.close()
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(scoring, "evaluate_policy_of", slow)
    assert main(["eval", "rlruns/r0", "--eval.episodes", "2", "--json"]) == 0
    assert list(seen["holders"]) == [runs["r0"]], seen["leases"]
    assert json.loads(capsys.readouterr().out)["model_id"] == runs["r0"]


def test_a_killed_evaluation_holds_nothing(runs, tmp_path, capsys):
    process, go = paused_eval(tmp_path)
    process.kill()
    process.communicate()
    registry = Registry(DB)
    try:
        assert registry.holders() == {}  # its lease is still a row, void with its process
    finally:
        registry.close()
    assert main(["gc", "--apply", "--json", *LIMITS]) == 0
    assert [p["run_id"] for p in json.loads(capsys.readouterr().out)["prune"]] == ["r0"]


@pytest.mark.parametrize("directory_kept", [True, False])
def test_a_row_that_goes_anyway_leaves_the_score_printed_and_kept(runs, tmp_path, directory_kept):
    process, go = paused_eval(tmp_path)
    try:  # past every lease: as a database moved aside, or a janitor of an older rlops, would
        registry = Registry(DB)
        registry.delete([runs["r0"]])
        registry.close()
        if not directory_kept:
            shutil.rmtree("rlruns/r0")
    finally:
        code, result, err = finish(process, go)
    assert code == 1 and "Traceback" not in err
    assert result["episodes"] == 2 and isinstance(result["mean_reward"], float) and result["recorded"] is False
    assert f"model {runs['r0']} left the registry while it was evaluated" in err
    assert f"no model with id {runs['r0']}" in result["unrecorded"]
    if directory_kept:
        kept = json.loads(Path("rlruns/r0/eval.json").read_text())
        assert result["kept_in"] == os.path.join("rlruns", "r0", "eval.json") or \
            Path(result["kept_in"]).resolve() == Path("rlruns/r0/eval.json").resolve()
        assert kept["mean_reward"] == result["mean_reward"] and kept["episodes"] == 2
    else:
        assert result["kept_in"] is None and "this output is the only copy" in err
