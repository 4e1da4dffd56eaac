"""An rlops run on a worker node whose files the daemon never reads, its checkpoints on S3 (moto on
loopback): the daemon's registry gets the run's models from its records, pointing at the objects
on S3, and ``rlops infer --model-id`` on the daemon's side fetches one, every hash verified, and
plays it; an object altered or missing on the store is refused, named, and nothing is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.store.registry import Registry
from tests.helpers import tiny_args
from tests.orchestrator.ray.helpers import ray_service, settle
from tests.sinks.test_s3 import BUCKET, keys, s3, server  # noqa: F401 - the moto server and its bucket

pytestmark = pytest.mark.slow


def s3_run_args(server: str, *extra: str, steps: int = 384) -> list[str]:
    return tiny_args("ppo", "--store.backend", "s3", "--store.s3-uri", f"s3://{BUCKET}/runs", "--store.endpoint-url",
                     server, "--train.checkpoint-freq", "128", *extra, steps=steps)


def rlops_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """A command on the daemon's machine: its database, and nothing of the node's directory."""
    return subprocess.run([sys.executable, "-m", "rlops", *args, "--store.db-path", str(tmp_path / "rlops.db")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)


def test_a_ray_runs_models_are_registered_here_and_infer_fetches_them_from_s3(cluster, tmp_path, s3, server):
    svc = ray_service(cluster, tmp_path)
    run_id = svc.start("rlops", s3_run_args(server), name="remote-models")
    run = settle(svc, run_id, timeout=300)
    assert run["status"] == "finished", run
    assert not (tmp_path / "runs" / run_id / "checkpoints").exists()  # they stayed on the node (and went to S3)
    records = [record for _, record in read_records(Path(run["log_path"]))]
    saved = {r.path: r for r in records if r.type == "checkpoint"}
    stored = keys(s3, f"runs/{run_id}/")
    assert {f"{path}/manifest.json" for path in saved} <= set(stored)

    registry = Registry(tmp_path / "rlops.db")
    try:
        rows = {row["model_path"]: row for row in registry.list(run_id=run_id)}
    finally:
        registry.close()
    assert set(rows) == {f"s3://{BUCKET}/runs/{run_id}/{path}" for path in saved}
    for path, record in saved.items():
        row = rows[f"s3://{BUCKET}/runs/{run_id}/{path}"]
        assert (row["sha256"], row["total_timesteps"]) == (record.sha256, record.env_steps)
        assert (row["env_id"], row["algorithm"], row["tags"]["s3_endpoint_url"]) == ("CartPole-v1", "ppo", server)
    final = next(r for r in reversed(records) if r.type == "eval" and r.checkpoint)
    newest = rows[f"s3://{BUCKET}/runs/{run_id}/{final.checkpoint}"]
    assert newest["mean_reward"] == final.mean_reward and newest["validation"]  # the eval record, validated here

    played = rlops_cli(tmp_path, "infer", "--model-id", str(newest["id"]), "--infer.allow-unvalidated",
                       "--infer.episodes", "2", "--json")
    assert played.returncode == 0, played.stderr
    episodes = [json.loads(line) for line in played.stdout.splitlines()]
    assert len(episodes) == 2 and all(sum(e["actions"].values()) == e["length"] > 0 for e in episodes)
    assert f"s3://{BUCKET}/runs/{run_id}/{final.checkpoint} (fetched, every hash verified" in played.stderr
    assert len(list((tmp_path / "fetched").iterdir())) == 1

    older = max((row for row in rows.values() if row["id"] != newest["id"]), key=lambda row: row["total_timesteps"])
    key = older["model_path"][len(f"s3://{BUCKET}/"):]
    victim = sorted(json.loads(s3.get_object(Bucket=BUCKET, Key=f"{key}/manifest.json")["Body"].read())["files"])[0]
    s3.put_object(Bucket=BUCKET, Key=f"{key}/{victim}", Body=b"not what the node saved")
    altered = f"{older['model_path']}/{victim}"
    refused = rlops_cli(tmp_path, "infer", "--model-id", str(older["id"]), "--infer.allow-unvalidated")
    assert refused.returncode != 0 and not refused.stdout
    assert f"model {older['id']} cannot be loaded: {altered} does not match the sha256 its manifest" in refused.stderr
    assert not any(path.name.startswith(".tmp-") for path in (tmp_path / "fetched").iterdir())
