"""The daemon's rows for a run that trained elsewhere, made from its ingested records and pointing
at its checkpoints on S3 (moto on loopback), and the fetch that brings one here before it loads:
the rows are what the run's S3 sink uploaded (its cadence replayed), a daemon restarted makes no
second row, and an object missing on the store is an error naming it. The Ray suite's
test_remote_models.py does the same with a real run on a node and ``rlops infer``."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from rlops.errors import CheckpointCorruptError
from rlops.events.schema import Checkpoint, End, Eval, Meta, Record, encode
from rlops.options import resolve_options
from rlops.pipeline.checkpoints import read_checkpoint, write_checkpoint
from rlops.services.model_fetch import fetch_model
from rlops.services.registry_ops import PrunePlan, apply_prune, resolve_model
from rlops.services.remote_models import RemoteRunModels
from rlops.sinks.s3 import S3Sink
from rlops.sinks.s3_objects import RunObjects, s3_client, s3_location
from rlops.store.ingest import ingest_log
from rlops.store.registry import Registry
from rlops.store.runs import RunStore
from tests.sinks import test_s3
from tests.sinks.test_s3 import BUCKET, keys

server, s3 = test_s3.server, test_s3.s3  # the moto server on loopback and its bucket, as the S3 sink's tests start them

RUN = "far-away"


def node_run(tmp_path: Path, server: str, *extra: str) -> tuple[Path, list[Record], dict]:
    """A run as a node writes it: checkpoints at 100, 200 and 300 env steps, an evaluation of the
    last, its end; the same records go through a real S3 sink. Returns the log (the daemon's copy)."""
    options = resolve_options(environ={}, args=["--env.env-id", "CartPole-v1", "--store.backend", "s3",
                                                "--store.s3-uri", f"s3://{BUCKET}/runs", "--store.endpoint-url",
                                                server, *extra]).options
    config = options.model_dump(mode="json")
    node = tmp_path / "node" / RUN
    records: list[Record] = [Meta(config=config, git_commit="abc123")]
    for steps in (100, 200, 300):
        saved = write_checkpoint(node / "checkpoints", steps, lambda d, s=steps: (d / "weights.bin").write_bytes(
            bytes([s % 256]) * 64), {"options": config})
        records.append(Checkpoint(path=f"checkpoints/{saved.path.name}", env_steps=steps, sha256=saved.sha256))
    records += [Eval(episodes=10, mean_reward=480.0, std_reward=5.0, mean_length=480.0,
                     checkpoint=records[-1].path, env_steps=300), End(status="finished", env_steps=300)]
    for seq, record in enumerate(records):
        record.run_id, record.seq, record.t, record.trace_id = RUN, seq, time.time(), "0" * 32
    log = tmp_path / "daemon" / RUN / "train_log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(encode(r) + "\n" for r in records))
    (node / "train_log.jsonl").write_bytes(log.read_bytes())
    objects = RunObjects(s3_client(options), s3_location(options), RUN)
    sink = S3Sink(objects, node, node / "train_log.jsonl", options.store.checkpoint_freq or None)
    sink.export(records)
    return log, records, config


def ingested(tmp_path: Path, log: Path) -> RunStore:
    store = RunStore(tmp_path / "rlops.db")
    ingest_log(store, log, run_dir=log.parent)
    return store


def rows(tmp_path: Path) -> dict[str, dict]:
    registry = Registry(tmp_path / "rlops.db")
    try:
        return {row["model_path"]: row for row in registry.list(run_id=RUN)}
    finally:
        registry.close()


def test_the_rows_are_the_checkpoints_the_sink_uploaded_and_a_restart_adds_none(tmp_path, s3, server):
    # store.checkpoint_freq 150: 100 goes up, 200 is not due (and 300, due, takes its place), 300 goes up
    log, records, _ = node_run(tmp_path, server, "--store.checkpoint-freq", "150")
    on_store = {key.rsplit("/", 1)[0] for key in keys(s3, f"runs/{RUN}/") if key.endswith("/manifest.json")}
    assert on_store == {"checkpoints/step-000000000100", "checkpoints/step-000000000300"}
    store = ingested(tmp_path, log)
    book = RemoteRunModels(store, tmp_path / "rlops.db")
    first = book.take(RUN)
    assert set(rows(tmp_path)) == {f"s3://{BUCKET}/runs/{RUN}/{path}" for path in on_store}
    newest = rows(tmp_path)[f"s3://{BUCKET}/runs/{RUN}/checkpoints/step-000000000300"]
    assert (newest["mean_reward"], newest["eval_episodes"], newest["git_commit"]) == (480.0, 10, "abc123")
    assert newest["sha256"] == records[3].sha256 and newest["tags"] == {"s3_endpoint_url": server}
    assert book.take(RUN) == []  # nothing new ingested: nothing written
    registry = Registry(tmp_path / "rlops.db")
    registry.set_evaluation(newest["id"], 490.0, 1.0, 490.0, 20)  # an `rlops eval` of it since
    registry.close()
    again = RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)  # a daemon restarted reads the run again
    assert sorted(again) == sorted(first) and len(rows(tmp_path)) == 2
    assert rows(tmp_path)[newest["model_path"]]["mean_reward"] == 490.0  # ... and keeps the later score
    book.close()
    store.close()


def test_a_model_on_s3_is_fetched_verified_and_a_missing_object_is_named(tmp_path, s3, server):
    log, records, _ = node_run(tmp_path, server)
    store = ingested(tmp_path, log)
    RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)
    store.close()
    models = rows(tmp_path)
    registry = Registry(tmp_path / "rlops.db")
    try:
        url = f"s3://{BUCKET}/runs/{RUN}/checkpoints/step-000000000300"
        local, checkpoint = resolve_model(registry, models[url]["id"], allow_unvalidated=True)  # what infer/eval call
        assert local["fetched_from"] == url and Path(local["model_path"]).parent == tmp_path / "fetched"
        assert checkpoint.path == Path(local["model_path"]) and checkpoint.sha256 == records[3].sha256
        assert read_checkpoint(checkpoint.path).sha256 == records[3].sha256  # every hash verified
        older = f"s3://{BUCKET}/runs/{RUN}/checkpoints/step-000000000200"
        s3.delete_object(Bucket=BUCKET, Key=f"runs/{RUN}/checkpoints/step-000000000200/weights.bin")
        with pytest.raises(CheckpointCorruptError) as refused:
            fetch_model(registry, models[older])
        assert refused.value.message == (f"model {models[older]['id']} cannot be loaded: {older}/weights.bin is "
                                         "missing on the store: the checkpoint there is incomplete")
        assert "nothing was loaded" in refused.value.hint
        assert [p.name for p in (tmp_path / "fetched").iterdir()] == [Path(local["model_path"]).name]
        # a checkpoint replaced on the store, whole and self-consistent, is still not the one registered
        replaced = f"s3://{BUCKET}/runs/{RUN}/checkpoints/step-000000000100"
        key = f"runs/{RUN}/checkpoints/step-000000000100"
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{key}/manifest.json")["Body"].read())
        manifest["files"]["weights.bin"] = {"sha256": hashlib.sha256(b"other").hexdigest(), "bytes": 5}
        s3.put_object(Bucket=BUCKET, Key=f"{key}/weights.bin", Body=b"other")
        s3.put_object(Bucket=BUCKET, Key=f"{key}/manifest.json", Body=json.dumps(manifest).encode())
        with pytest.raises(CheckpointCorruptError, match=f"the manifest at {replaced}/manifest.json does not match "
                                                         "the hash registered for the model"):
            fetch_model(registry, models[replaced])
        assert len(list((tmp_path / "fetched").iterdir())) == 1
        apply_prune(registry, PrunePlan([{**models[url], "why": "test"}], {}))  # the row goes, and the copy here
        assert list((tmp_path / "fetched").iterdir()) == [] and url not in rows(tmp_path)
    finally:
        registry.close()


def test_a_run_that_kept_its_checkpoints_on_its_node_gets_no_rows(tmp_path, s3, server, caplog):
    log, _, _ = node_run(tmp_path, server)
    text = log.read_text().replace('"backend":"s3"', '"backend":"local"')
    assert text != log.read_text()
    log.write_text(text)
    store = ingested(tmp_path, log)
    assert RemoteRunModels(store, tmp_path / "rlops.db").take(RUN) == [] and rows(tmp_path) == {}
    assert f"run {RUN} keeps its checkpoints on its node (no store.backend s3)" in caplog.text
    store.close()
