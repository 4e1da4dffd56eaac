"""Sweeps on the Ray cluster: queued across the nodes with the same ranked summary, and through
Ray Tune's ASHA, whose early stops end runs `stopped` with the reason and their records kept."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlops.store.runs import RunStore
from tests.orchestrator.ray.helpers import PROGRAMS, ray_args


def sweep(cluster, root, *flags: str, program_flags: tuple[str, ...] = (), timeout: float = 600,
          concurrent: int = 8):
    result = subprocess.run([sys.executable, "-m", "rlops", "sweep", "--runner", "command", "--name", "sw", "--json",
                             *flags, *ray_args(cluster, root, "--ray.num-cpus", "0.4", "--orchestrator.max-concurrent",
                                               str(concurrent)), "--",
                             sys.executable, str(PROGRAMS / "ladder.py"), *program_flags],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode in (0, 1) and result.stdout.strip(), result.stderr[-6000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result


def test_a_grid_sweep_runs_across_the_nodes_and_is_ranked(cluster, tmp_path):
    ranked, result = sweep(cluster, tmp_path, "--grid", "train.learning_rate=1,2,3", "--seeds", "2",
                           program_flags=("--evals", "3", "--pause", "0"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(ranked) == 6 and all(row["status"] == "finished" for row in ranked)
    assert [row["best_eval"] for row in ranked] == [9.0, 9.0, 6.0, 6.0, 3.0, 3.0]  # best first
    store = RunStore(tmp_path / "rlops.db")
    assert all(store.get_run(row["run"])["backend"] == "ray" and store.get_run(row["run"])["node"] for row in ranked)


@pytest.mark.slow
def test_a_sweep_of_100_tiny_runs_all_end_and_are_all_ingested(cluster, tmp_path):
    values = ",".join(str(v) for v in range(1, 51))
    ranked, result = sweep(cluster, tmp_path, "--grid", f"train.learning_rate={values}", "--seeds", "2",
                           program_flags=("--evals", "2", "--pause", "0"), timeout=1500)
    assert result.returncode == 0 and len(ranked) == 100, result.stderr[-3000:]
    store = RunStore(tmp_path / "rlops.db")
    for row in ranked:
        run = store.get_run(row["run"])
        assert run["status"] == "finished" and run["episodes"] == 2 and run["ingested_seq"] >= 5, run
    assert ranked[0]["best_eval"] == 100.0


def test_asha_stops_poor_trials_early_and_their_runs_say_so(cluster, tmp_path):
    # Two at a time, the better trials first: the later, poorer ones fall below the rungs' cutoffs.
    ranked, result = sweep(cluster, tmp_path, "--grid", "train.learning_rate=6,5,4,3,2,1", "--scheduler", "asha",
                           program_flags=("--evals", "8", "--pause", "0.4"), concurrent=2)
    assert len(ranked) == 6, result.stderr[-3000:]
    stopped = [row for row in ranked if row["status"] == "stopped"]
    assert stopped and any(row["status"] == "finished" for row in ranked), ranked
    store = RunStore(tmp_path / "rlops.db")
    for row in stopped:
        run = store.get_run(row["run"])
        assert run["reason"].startswith("stopped early by ASHA at ") and run["reason"].endswith(" env steps"), run
        assert run["episodes"] >= 1 and store.events(row["run"], types=["end"])  # its records are kept
    best = max(ranked, key=lambda row: float(row["train.learning_rate"]))
    assert best["status"] == "finished"
