"""The daemon's rows for a remote run without S3 whose run directory on its node is on storage this
machine sees at the same path (NFS): each checkpoint its records name gets a row with that path
once every file matches its manifest and the manifest the record's hash; one not seen here, or
altered, gets none, and that is said. The Ray suite's test_remote_models_shared.py does the same
with a real run on a node and ``rlops infer``."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from rlops.events.schema import Checkpoint, End, Eval, Meta, Record, encode
from rlops.options import resolve_options
from rlops.pipeline.checkpoints import write_checkpoint
from rlops.services.registry_ops import resolve_model
from rlops.services.remote_models import RemoteRunModels
from rlops.store.ingest import ingest_log
from rlops.store.registry import Registry
from rlops.store.runs import RunStore

RUN = "on-nfs"
STEPS = (100, 200, 300)


def node_run(tmp_path: Path, model_dir: str | None = None) -> tuple[Path, Path, list[Record]]:
    """A run as a node writes it into ``<model_dir>/RUN`` (default: tmp_path/node, which this
    process sees): checkpoints at 100, 200 and 300 env steps, an evaluation of the last, its end.
    Returns the daemon's copy of the log, the node's run directory and the records."""
    node = tmp_path / "node"
    config = resolve_options(environ={}, args=["--env.env-id", "CartPole-v1", "--store.model-dir",
                                               model_dir or str(node), "--store.run-name", RUN]).options
    config = config.model_dump(mode="json")
    records: list[Record] = [Meta(config=config, git_commit="abc123")]
    for steps in STEPS:
        saved = write_checkpoint(node / RUN / "checkpoints", steps, lambda d, s=steps: (d / "weights.bin").write_bytes(
            bytes([s % 256]) * 64), {"options": config})
        records.append(Checkpoint(path=f"checkpoints/{saved.path.name}", env_steps=steps, sha256=saved.sha256))
    records += [Eval(episodes=10, mean_reward=480.0, std_reward=5.0, mean_length=480.0,
                     checkpoint=records[-1].path, env_steps=300), End(status="finished", env_steps=300)]
    for seq, record in enumerate(records):
        record.run_id, record.seq, record.t, record.trace_id = RUN, seq, time.time(), "0" * 32
    log = tmp_path / "daemon" / RUN / "train_log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(encode(r) + "\n" for r in records))
    return log, node / RUN, records


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


def checkpoint_dir(run_dir: Path, steps: int) -> Path:
    return run_dir / "checkpoints" / f"step-{steps:012d}"


def test_checkpoints_on_a_shared_path_get_rows_there_scored_by_their_eval_and_a_restart_adds_none(tmp_path, caplog):
    log, run_dir, records = node_run(tmp_path)
    store = ingested(tmp_path, log)
    book = RemoteRunModels(store, tmp_path / "rlops.db")
    first = book.take(RUN)
    made = rows(tmp_path)
    assert set(made) == {str(checkpoint_dir(run_dir, steps)) for steps in STEPS} and len(first) == 3
    newest = made[str(checkpoint_dir(run_dir, 300))]
    assert (newest["sha256"], newest["total_timesteps"], newest["git_commit"]) == (records[3].sha256, 300, "abc123")
    assert (newest["mean_reward"], newest["eval_episodes"]) == (480.0, 10) and newest["validation"]
    assert made[str(checkpoint_dir(run_dir, 100))]["eval_episodes"] is None
    assert "keeps its checkpoints on its node" not in caplog.text
    assert book.take(RUN) == []  # nothing new ingested: nothing written
    registry = Registry(tmp_path / "rlops.db")
    try:
        registry.set_evaluation(newest["id"], 490.0, 1.0, 490.0, 20)  # an `rlops eval` of it since
        local, checkpoint = resolve_model(registry, newest["id"], allow_unvalidated=True)  # what infer/eval call
        assert local["model_path"] == str(checkpoint_dir(run_dir, 300)) and "fetched_from" not in local
        assert checkpoint.sha256 == records[3].sha256
    finally:
        registry.close()
    again = RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)  # a daemon restarted reads the run again
    assert sorted(again) == sorted(first) and len(rows(tmp_path)) == 3
    assert rows(tmp_path)[newest["model_path"]]["mean_reward"] == 490.0  # ... and keeps the later score
    book.close()
    store.close()


def test_a_run_directory_not_seen_here_gets_no_rows_and_is_said_once(tmp_path, caplog):
    log, run_dir, _ = node_run(tmp_path, model_dir="/nfs/not-mounted-here/rlops-ray")
    store = ingested(tmp_path, log)
    book = RemoteRunModels(store, tmp_path / "rlops.db")
    with caplog.at_level(logging.WARNING, logger="rlops.services.remote_models"):
        assert book.take(RUN) == [] and rows(tmp_path) == {}
        assert (f"run {RUN} keeps its checkpoints on its node (no store.backend s3) and its run directory there, "
                f"/nfs/not-mounted-here/rlops-ray/{RUN}, is not seen at that path here") in caplog.text
        assert "--ray.node-dir" in caplog.text
        caplog.clear()
        book.seen[RUN] = -1  # as when more of the run's records come: read again, and said no more
        assert book.take(RUN) == [] and rows(tmp_path) == {} and "keeps its checkpoints" not in caplog.text
    book.close()
    store.close()


def test_a_relative_model_dir_says_nothing_of_where_the_node_put_it(tmp_path, caplog):
    log, _, _ = node_run(tmp_path, model_dir="rlruns")
    store = ingested(tmp_path, log)
    with caplog.at_level(logging.WARNING, logger="rlops.services.remote_models"):
        assert RemoteRunModels(store, tmp_path / "rlops.db").take(RUN) == [] and rows(tmp_path) == {}
    assert f"run {RUN} keeps its checkpoints on its node (no store.backend s3) and its records do not say where" \
        in caplog.text
    store.close()


def test_an_altered_or_missing_checkpoint_gets_no_row_and_is_named(tmp_path, caplog):
    log, run_dir, _ = node_run(tmp_path)
    altered = checkpoint_dir(run_dir, 100) / "weights.bin"
    altered.write_bytes(b"x" * 64)  # same size, other bytes
    shutil.rmtree(checkpoint_dir(run_dir, 200))  # gone before the daemon looked (the node's own pruning)
    store = ingested(tmp_path, log)
    with caplog.at_level(logging.WARNING, logger="rlops.services.remote_models"):
        written = RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)
    assert set(rows(tmp_path)) == {str(checkpoint_dir(run_dir, 300))} and len(written) == 1
    assert (f"run {RUN}: checkpoint {checkpoint_dir(run_dir, 100)} gets no row here, its files are not the ones the "
            "run saved: weights.bin does not match its sha256") in caplog.text
    assert f"its run directory there, {run_dir}, is not seen at that path here" in caplog.text
    store.close()


def test_a_checkpoint_replaced_by_another_whole_one_is_not_the_one_its_record_names(tmp_path, caplog):
    log, run_dir, records = node_run(tmp_path)
    target = checkpoint_dir(run_dir, 300)
    shutil.rmtree(target)
    shutil.copytree(checkpoint_dir(run_dir, 200), target)  # whole and self-consistent, but 200's
    store = ingested(tmp_path, log)
    with caplog.at_level(logging.WARNING, logger="rlops.services.remote_models"):
        RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)
    assert str(target) not in rows(tmp_path) and len(rows(tmp_path)) == 2
    assert f"checkpoint {target} gets no row here" in caplog.text
    assert "its manifest no longer matches the hash its checkpoint record gives" in caplog.text
    store.close()
