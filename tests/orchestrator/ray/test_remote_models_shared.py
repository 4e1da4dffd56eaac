"""An rlops run on a worker node without S3 whose run directory is on storage the daemon sees at
the same path (the test cluster's nodes keep theirs under the test's temporary directory, which
the daemon's process reads: a shared mount, as NFS would give): the daemon's registry gets the
run's models at their paths there, every hash verified, and ``rlops infer --model-id`` on the
daemon's side plays one. The S3 version is test_remote_models.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.store.registry import Registry
from tests.helpers import tiny_args
from tests.orchestrator.ray.helpers import ray_service, settle
from tests.orchestrator.ray.test_remote_models import rlops_cli

pytestmark = pytest.mark.slow


def test_a_ray_runs_models_on_a_shared_path_are_registered_there_and_infer_plays_one(cluster, tmp_path):
    svc = ray_service(cluster, tmp_path)
    run_id = svc.start("rlops", tiny_args("ppo", "--train.checkpoint-freq", "128", steps=384), name="shared-models")
    run = settle(svc, run_id, timeout=300)
    assert run["status"] == "finished", run
    node_run_dir = Path(svc.ray_runs.state(run_id)["node_run_dir"])
    cluster.node_running(str(node_run_dir))  # a node's own directory, not the daemon's
    assert not (tmp_path / "runs" / run_id / "checkpoints").exists()
    records = [record for _, record in read_records(Path(run["log_path"]))]
    saved = {r.path: r for r in records if r.type == "checkpoint"}
    assert len(saved) >= 3

    registry = Registry(tmp_path / "rlops.db")
    try:
        rows = {row["model_path"]: row for row in registry.list(run_id=run_id)}
    finally:
        registry.close()
    assert set(rows) == {str(node_run_dir / path) for path in saved}
    for path, record in saved.items():
        row = rows[str(node_run_dir / path)]
        assert (row["sha256"], row["total_timesteps"], row["env_id"]) == (record.sha256, record.env_steps, "CartPole-v1")
    final = next(r for r in reversed(records) if r.type == "eval" and r.checkpoint)
    newest = rows[str(node_run_dir / final.checkpoint)]
    assert newest["mean_reward"] == final.mean_reward and newest["validation"]  # the eval record, validated here

    played = rlops_cli(tmp_path, "infer", "--model-id", str(newest["id"]), "--infer.allow-unvalidated",
                       "--infer.episodes", "2", "--json")
    assert played.returncode == 0, played.stderr
    episodes = [json.loads(line) for line in played.stdout.splitlines()]
    assert len(episodes) == 2 and all(sum(e["actions"].values()) == e["length"] > 0 for e in episodes)
    assert not (tmp_path / "fetched").exists()  # read where it is: nothing to fetch
    verified = rlops_cli(tmp_path, "registry", "verify", "--json")
    assert verified.returncode == 0 and all(r["ok"] for r in json.loads(verified.stdout)), verified.stdout
