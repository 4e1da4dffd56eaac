"""An rlops run on a worker node whose files the daemon never reads, its checkpoints on S3 (moto on
loopback): the daemon's registry gets the run's models from its records, pointing at the objects
on S3, and ``rlops infer --model-id`` on the daemon's side fetches one, every hash verified, and
plays it (``rlops eval`` and ``rlops serve`` too); an object altered on the store is refused, named,
and nothing is loaded. A node that dies mid-run: the run resumes on another from S3."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rlops.events.reader import read_records
from rlops.store.registry import Registry
from tests.helpers import tiny_args
from tests.orchestrator.ray.helpers import ray_service, settle, wait_for
from tests.orchestrator.ray.test_node_death import kill_node_of
from tests.policy_server import policy_server
from tests.sinks import test_s3
from tests.sinks.test_s3 import BUCKET, keys

server, s3 = test_s3.server, test_s3.s3  # the moto server on loopback and its bucket, as the S3 sink's tests start them

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
    scored = rlops_cli(tmp_path, "eval", "--model-id", str(newest["id"]), "--eval.episodes", "3", "--json")
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["model_id"] == newest["id"] and len(list((tmp_path / "fetched").iterdir())) == 1
    registry = Registry(tmp_path / "rlops.db")
    try:
        assert registry.get(newest["id"])["eval_episodes"] == 3  # the score is on the daemon's row
    finally:
        registry.close()
    with policy_server("--model-id", str(newest["id"]), "--infer.allow-unvalidated", "--store.db-path",
                       str(tmp_path / "rlops.db"), cwd=tmp_path) as url:
        acted = httpx.post(f"{url}/v1/act", json={"observations": [[0.0, 0.0, 0.0, 0.0]] * 3}, timeout=30)
        assert acted.status_code == 200 and len(acted.json()["actions"]) == 3

    older = max((row for row in rows.values() if row["id"] != newest["id"]), key=lambda row: row["total_timesteps"])
    key = older["model_path"][len(f"s3://{BUCKET}/"):]
    victim = sorted(json.loads(s3.get_object(Bucket=BUCKET, Key=f"{key}/manifest.json")["Body"].read())["files"])[0]
    s3.put_object(Bucket=BUCKET, Key=f"{key}/{victim}", Body=b"not what the node saved")
    altered = f"{older['model_path']}/{victim}"
    refused = rlops_cli(tmp_path, "infer", "--model-id", str(older["id"]), "--infer.allow-unvalidated")
    assert refused.returncode != 0 and not refused.stdout
    assert f"model {older['id']} cannot be loaded: {altered} does not match the sha256 its manifest" in refused.stderr
    assert not any(path.name.startswith(".tmp-") for path in (tmp_path / "fetched").iterdir())


def steps_of(checkpoint: str) -> int:
    """``step-000000000512[.1]`` (or a key under it) -> 512."""
    return int(checkpoint.split("step-")[1].split("/")[0].split(".")[0])


def test_an_rlops_run_whose_node_dies_resumes_on_another_node_from_s3(cluster, tmp_path, s3, server):
    svc = ray_service(cluster, tmp_path, "--ray.max-retries", "1")
    run_id = svc.start("rlops", s3_run_args(server, "--train.checkpoint-freq", "512", steps=4096), name="moved-rlops")
    wait_for(lambda: svc.store.get_run(run_id)["checkpoints"] >= 1 and any(
        key.endswith("/manifest.json") for key in keys(s3, f"runs/{run_id}/checkpoints/")), timeout=240, svc=svc,
        what="a checkpoint on S3 before the kill")
    dead, first = kill_node_of(cluster, svc, run_id)
    # What S3 holds once the node is dead (the run's group may outlive it by a moment, until its guard ends it)
    on_s3 = [steps_of(key) for key in keys(s3, f"runs/{run_id}/checkpoints/") if key.endswith("/manifest.json")]
    try:
        run = settle(svc, run_id, timeout=300)
        assert run["status"] == "finished", run
        second = svc.ray_runs.state(run_id)
        assert second["attempt"] == 1 and second["node_id"] != first["node_id"]
        records = [record for _, record in read_records(Path(run["log_path"]))]
        assert [r.seq for r in records] == list(range(len(records)))  # continued, nothing twice
        assert run["ingested_seq"] == records[-1].seq and run["resumes"] == 1
        at = next(i for i, r in enumerate(records) if r.type == "resume")
        resume = records[at]
        assert f"{resume.checkpoint}/manifest.json" in keys(s3, f"runs/{run_id}/")  # fetched by the retry's node
        assert resume.env_steps == steps_of(resume.checkpoint) >= max(on_s3)  # the newest S3 held
        assert "end" not in [r.type for r in records[:at]]
        later = [r.env_steps for r in records[at + 1:] if r.type == "checkpoint"]
        assert later and min(later) > resume.env_steps and records[-1].type == "end" and records[-1].env_steps == 4096
        registry = Registry(tmp_path / "rlops.db")
        try:
            models = registry.list(run_id=run_id)
        finally:
            registry.close()
        paths = [row["model_path"] for row in models]
        assert len(paths) == len(set(paths)) == len({r.path for r in records if r.type == "checkpoint"})
        assert all(path.startswith(f"s3://{BUCKET}/runs/{run_id}/checkpoints/") for path in paths)
    finally:
        cluster.add_worker()
