"""The S3 backend against a real S3-compatible server on loopback (moto's standalone server):
checkpoints, artifacts and the log go up; a run resumes on a machine that never saw it; a
corrupt or half-uploaded checkpoint on the store is never loaded; a store that is down or
refuses never stops training."""

from __future__ import annotations

import json
import logging
import socket

import boto3
import pytest
from moto.server import ThreadedMotoServer

from rlops.events.reader import read_records
from rlops.events.schema import End, Resume
from tests.helpers import train_tiny

BUCKET = "rlops-test"


@pytest.fixture(scope="module")
def server():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    yield f"http://{host}:{port}"
    moto.stop()


@pytest.fixture
def s3(server, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=server)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def s3_args(server: str, run: str, *extra: str) -> list[str]:
    return ["--store.backend", "s3", "--store.s3-uri", f"s3://{BUCKET}/runs", "--store.endpoint-url", server,
            "--store.run-name", run, "--train.checkpoint-freq", "64", *extra]


def keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"][len(prefix):] for page in pages for item in page.get("Contents", []))


def last_end(log) -> End:
    return [record for _, record in read_records(log) if isinstance(record, End)][-1]


def test_checkpoints_artifacts_and_the_log_reach_the_store(s3, server):
    result = train_tiny("ppo", *s3_args(server, "up"))
    stored = keys(s3, "runs/up/")
    local = sorted(path.name for path in result.run.checkpoints.iterdir())
    assert local and {f"checkpoints/{name}/manifest.json" for name in local} <= set(stored)
    for name in local:
        manifest = json.loads((result.run.checkpoints / name / "manifest.json").read_text())
        assert {f"checkpoints/{name}/{file}" for file in manifest["files"]} <= set(stored)
    assert {"options.json", "eval.json", "train_log.jsonl"} <= set(stored)
    body = s3.get_object(Bucket=BUCKET, Key="runs/up/train_log.jsonl")["Body"].read()
    assert body == result.run.events_file.read_bytes()  # the end record included
    assert "s3" not in last_end(result.run.events_file).dropped


@pytest.mark.slow  # a training pushing to an S3 server: 28 s at load 12
def test_store_checkpoint_freq_thins_the_pushes_but_the_last_always_goes(s3, server):
    # Rollouts of 32 steps x 2 envs: PPO checkpoints at rollout boundaries, here every 64 steps.
    result = train_tiny("ppo", *s3_args(server, "thin", "--store.checkpoint-freq", "128", "--agent.hyperparams",
                                        '{"n_steps": 32}'), steps=384)
    local = sorted(path.name for path in result.run.checkpoints.iterdir())
    pushed = sorted({key.split("/")[1] for key in keys(s3, "runs/thin/") if key.startswith("checkpoints/")})
    assert len(local) == 384 // 64 and pushed == [local[0], local[2], local[4], local[5]], (local, pushed)


@pytest.mark.slow  # a training, an S3 server and a resume elsewhere: 28 s at load 12
def test_a_run_resumes_on_a_machine_that_never_saw_it(s3, server):
    first = train_tiny("ppo", *s3_args(server, "moved"))
    elsewhere = ["--store.model-dir", "machine2", "--registry.db-path", "machine2/rlops.db", "--train.resume"]
    second = train_tiny("ppo", *s3_args(server, "moved", *elsewhere), steps=512)
    assert second.run.path.parent.name == "machine2"
    resumes = [r for _, r in read_records(second.run.events_file) if isinstance(r, Resume)]
    assert [(r.checkpoint, r.env_steps) for r in resumes] == [(f"checkpoints/{first.checkpoint.path.name}", 256)]
    assert second.env_steps == 512
    assert f"checkpoints/{second.checkpoint.path.name}/manifest.json" in keys(s3, "runs/moved/")


def test_a_corrupt_or_unfinished_checkpoint_on_the_store_is_skipped(s3, server, caplog):
    first = train_tiny("ppo", *s3_args(server, "torn"))
    newest, previous = sorted(path.name for path in first.run.checkpoints.iterdir())[-1:-3:-1]
    victim = sorted(json.loads((first.run.checkpoints / newest / "manifest.json").read_text())["files"])[0]
    s3.put_object(Bucket=BUCKET, Key=f"runs/torn/checkpoints/{newest}/{victim}", Body=b"not what was saved")
    # ... and one newer still whose manifest never arrived (an upload cut by a kill)
    s3.put_object(Bucket=BUCKET, Key="runs/torn/checkpoints/step-000000009999/parameters.pt", Body=b"partial")
    elsewhere = ["--store.model-dir", "machine2", "--registry.db-path", "machine2/rlops.db", "--train.resume"]
    second = train_tiny("ppo", *s3_args(server, "torn", *elsewhere), steps=512)
    resume = next(r for _, r in read_records(second.run.events_file) if isinstance(r, Resume))
    assert resume.checkpoint == f"checkpoints/{previous}"
    assert f"skipping {newest} on the store" in caplog.text
    assert not any(path.name.startswith(".tmp-") for path in second.run.checkpoints.iterdir())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("problem", ["no such bucket", "endpoint down"])
def test_a_store_that_refuses_or_is_down_never_stops_training(server, monkeypatch, caplog, problem):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = server if problem == "no such bucket" else f"http://127.0.0.1:{closed_port()}"
    result = train_tiny("ppo", *s3_args(endpoint, "refused"))
    end = last_end(result.run.events_file)
    assert end.status == "finished" and end.dropped["s3"] == end.seq + 1  # every record, the end included
    reports = [r.getMessage() for r in caplog.records if "sink s3 is unavailable" in r.getMessage()]
    assert len(reports) == 1 and ("NoSuchBucket" in reports[0] or "404" in reports[0]
                                  or "cannot be reached" in reports[0]), reports
    assert (result.run.checkpoints / result.checkpoint.path.name / "manifest.json").is_file()
