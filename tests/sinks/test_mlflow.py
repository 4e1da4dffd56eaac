"""The MLflow backend against a real local MLflow store (SQLite): a training run's params, metric
histories, checkpoints and status, read back with MlflowClient, match its JSONL log; a resumed
run goes on in the same MLflow run; a server that is down never stops training; the reconciler
marks the MLflow run of a killed run FAILED."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rlops.cli.app import main
from rlops.events.reader import read_records
from rlops.events.schema import End, Episode, Meta, Metrics
from rlops.options import resolve_options
from rlops.services.reconcile import reconcile_lost_runs
from rlops.sinks.base import RunContext
from rlops.sinks.mlflow import MlflowSink
from rlops.sinks.recorder import new_trace_id
from rlops.store.run_dir import create_run_directory
from rlops.store.runs import RunStore
from tests.helpers import tiny_args, train_tiny
from tests.sinks.test_tensorboard import scalars_of_log


@pytest.fixture
def uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"


def mlflow_args(uri: str, *extra: str) -> list[str]:
    return ["--store.backend", "mlflow", "--store.tracking-uri", uri, *extra]


def mlflow_run(uri: str, run_id: str):
    """The one MLflow run tagged with this rlops run id."""
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("default")
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`rlops.run_id` = '{run_id}'")
    assert len(runs) == 1, [run.info.run_id for run in runs]
    return client, runs[0]


def records_of(log: Path) -> list:
    return [record for _, record in read_records(log)]


def assert_same_metrics(client: MlflowClient, run, log: Path) -> None:
    """Every series of the log, point for point: step env_steps, value, time in ms."""
    expected = scalars_of_log(log)
    assert sorted(run.data.metrics) == sorted(expected)
    for key, points in expected.items():
        stored = sorted((m.step, m.value, m.timestamp) for m in client.get_metric_history(run.info.run_id, key))
        # MLflow keys a point by (key, step, value, timestamp in ms): a run's statistics and losses
        # records at one env step, written within the same millisecond, give one opt_steps point.
        assert stored == sorted({(step, value, round(t * 1000)) for step, value, t in points}), key


def assert_finished_with_artifacts(client: MlflowClient, run, result, pushed: list[str]) -> None:
    """FINISHED at the end record's time; the pushed checkpoints whole; the log in full."""
    run = client.get_run(run.info.run_id)
    end = records_of(result.run.events_file)[-1]
    assert isinstance(end, End) and end.status == "finished" and "mlflow" not in end.dropped
    assert run.info.status == "FINISHED" and run.info.end_time == round(end.t * 1000)
    listed = [Path(item.path).name for item in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert listed == pushed
    for name in pushed:
        files = {Path(item.path).name for item in client.list_artifacts(run.info.run_id, f"checkpoints/{name}")}
        manifest = json.loads((result.run.checkpoints / name / "manifest.json").read_text())
        assert files == {*manifest["files"], "manifest.json"}
    copy = client.download_artifacts(run.info.run_id, "train_log.jsonl", str(result.run.path.parent / "download"))
    assert Path(copy).read_bytes() == result.run.events_file.read_bytes()  # the end record included


def test_a_run_is_one_mlflow_run_with_the_params_metrics_and_checkpoints_of_its_log(uri):
    # Rollouts of 32 steps x 2 envs: PPO checkpoints at rollout boundaries, here every 64 steps.
    result = train_tiny("ppo", *mlflow_args(uri, "--train.checkpoint-freq", "64", "--store.checkpoint-freq", "128",
                                            "--agent.hyperparams", '{"n_steps": 32}'), steps=384)
    client, run = mlflow_run(uri, result.run.name)
    meta = records_of(result.run.events_file)[0]
    assert isinstance(meta, Meta)
    assert run.info.run_name == result.run.name
    assert {key: run.data.tags[key] for key in ("rl.env_id", "rl.algorithm", "rlops.trace_id")} == {
        "rl.env_id": "CartPole-v1", "rl.algorithm": "ppo", "rlops.trace_id": meta.trace_id}
    params = run.data.params
    assert params["env.env_id"] == "CartPole-v1" and params["train.total_timesteps"] == "384"
    assert params["agent.hyperparams.n_steps"] == "32" and params["env.seed"] == "1"
    assert params["agent.net_arch"] == "[16]"
    assert_same_metrics(client, run, result.run.events_file)
    assert {"episode/return", "eval/mean_reward", "train/value_loss", "sps"} <= set(run.data.metrics)
    # store.checkpoint_freq thins the pushes (every 128 env steps of 64), the last always goes.
    local = sorted(path.name for path in result.run.checkpoints.iterdir())
    assert len(local) == 6
    assert_finished_with_artifacts(client, run, result, [local[0], local[2], local[4], local[5]])


@pytest.mark.slow  # a training and its resume into MLflow: 40 s at load 12
def test_a_resumed_run_goes_on_in_the_same_mlflow_run(uri):
    first = train_tiny("ppo", *mlflow_args(uri, "--store.run-name", "again", "--train.checkpoint-freq", "128"),
                       steps=256)
    _, before = mlflow_run(uri, "again")
    second = train_tiny("ppo", *mlflow_args(uri, "--store.run-name", "again", "--train.resume"), steps=384)
    assert second.run.path == first.run.path
    client, run = mlflow_run(uri, "again")
    assert run.info.run_id == before.info.run_id
    # Both processes' points, in one history per metric; the end status is the second's.
    assert_same_metrics(client, run, second.run.events_file)
    assert max(m.step for m in client.get_metric_history(run.info.run_id, "sps")) == 384
    local = sorted(path.name for path in second.run.checkpoints.iterdir())
    assert_finished_with_artifacts(client, run, second, local)
    # A param is logged once; what the resume changed is a tag, never an error.
    assert run.data.params["train.total_timesteps"] == "256" and run.data.params["train.resume"] == "false"
    assert run.data.tags["rlops.changed.train.total_timesteps"] == "384"
    assert run.data.tags["rlops.changed.train.resume"] == "true"


def test_odd_metric_names_and_big_batches_are_what_mlflow_accepts(uri):
    """Names MLflow refuses (a colon, an empty or dot path part) are made valid, and a batch above
    MLflow's 1000 metrics per call arrives whole."""
    options = resolve_options(environ={}, args=["--store.tracking-uri", uri, "--store.run-name", "odd"]).options
    run = create_run_directory(options.store.model_dir, "odd")
    sink = MlflowSink.for_run(RunContext("odd", run.path, run.events_file, options, new_trace_id()))
    odd = {"loss:policy": 1.0, "a//b": 2.0, "../up": 3.0, "/lead": 4.0, "tail/": 5.0}
    episodes = [Episode(seq=2 + i, t=1000.0 + i, episode_return=float(i), length=i, env_steps=10 * i)
                for i in range(600)]  # 1200 points
    sink.export([Meta(seq=0, t=999.0, config={"x": {"y:z": 1}}), Metrics(seq=1, t=999.5, env_steps=5, values=odd),
                 *episodes, End(seq=602, t=2000.0, status="stopped", reason="interrupted")])
    sink.shutdown()
    client, stored = mlflow_run(uri, "odd")
    assert {"loss_policy", "a/_/b", "_/up", "_/lead", "tail/_"} <= set(stored.data.metrics)
    assert stored.data.params["x.y_z"] == "1"
    history = client.get_metric_history(stored.info.run_id, "episode/return")
    assert sorted((m.step, m.value) for m in history) == [(10 * i, float(i)) for i in range(600)]
    assert stored.info.status == "KILLED" and stored.data.tags["rlops.end_reason"] == "interrupted"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_tracking_server_that_is_down_never_stops_training(caplog):
    started = time.monotonic()
    result = train_tiny("ppo", *mlflow_args(f"http://127.0.0.1:{closed_port()}"))
    assert time.monotonic() - started < 30  # not MLflow's minutes of retries
    end = records_of(result.run.events_file)[-1]
    assert end.status == "finished" and end.dropped["mlflow"] == end.seq + 1  # every record, the end included
    reports = [r.getMessage() for r in caplog.records if "sink mlflow is unavailable" in r.getMessage()]
    assert len(reports) == 1 and "cannot be reached" in reports[0] and "rlops export" in reports[0], reports
    assert (result.run.checkpoints / result.checkpoint.path.name / "manifest.json").is_file()


def killed_run(name: str, *args: str) -> Path:
    """What a killed process leaves: a run directory, an MLflow run RUNNING with its params, a
    run-store row 'running' with the pid of a process that is gone."""
    options = resolve_options(environ={}, args=tiny_args("ppo", "--store.run-name", name, *args)).options
    run = create_run_directory(options.store.model_dir, name)
    snapshot = options.model_dump(mode="json")
    run.write_json(run.options_file, snapshot)
    if "mlflow" in options.store.backend and "http" not in (options.store.tracking_uri or ""):
        sink = MlflowSink.for_run(RunContext(name, run.path, run.events_file, options, new_trace_id()))
        sink.export([Meta(run_id=name, trace_id=new_trace_id(), seq=0, t=time.time(), config=snapshot)])
        sink.shutdown()  # and no end record
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = RunStore(options.store.db_path)
    store.register_run(name, run.path.resolve(), run.events_file.resolve(), pid=dead.pid)
    store.close()
    return run.path


def test_the_reconciler_marks_the_mlflow_run_of_a_killed_run_failed_until_it_resumes(uri, capsys):
    killed_run("ghost", *mlflow_args(uri))
    client, run = mlflow_run(uri, "ghost")
    assert run.info.status == "RUNNING" and run.data.params["store.run_name"] == "ghost"
    assert main(["runs", "list", "--json"]) == 0
    [row] = json.loads(capsys.readouterr()[0])
    assert row["status"] == "lost"
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FAILED" and run.info.end_time
    assert run.data.tags["rlops.end_reason"].startswith("lost: ") and "no end record" in run.data.tags[
        "rlops.end_reason"]
    # Resumed (from scratch: it died before its first checkpoint), it finishes in the same MLflow run.
    train_tiny("ppo", *mlflow_args(uri, "--store.run-name", "ghost", "--train.resume"))
    _, again = mlflow_run(uri, "ghost")
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert "rlops.end_reason" not in again.data.tags


def test_the_reconciler_warns_when_mlflow_is_down_and_still_marks_the_run_lost(caplog):
    killed_run("down", *mlflow_args(f"http://127.0.0.1:{closed_port()}"))
    killed_run("plain")  # no mlflow backend: nothing to tell
    store = RunStore("rlruns/rlops.db")
    with caplog.at_level(logging.WARNING, logger="rlops.services.reconcile"):
        assert sorted(reconcile_lost_runs(store)) == ["down", "plain"]
    assert {run["run_id"]: run["status"] for run in store.list_runs()} == {"down": "lost", "plain": "lost"}
    store.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "rlops.services.reconcile"]
    assert len(warnings) == 1 and "down" in warnings[0] and "cannot be reached" in warnings[0], warnings


def launch(uri: str, name: str) -> subprocess.Popen:
    """A real training process, endless, with the MLflow backend; back once its first checkpoint is
    whole and its MLflow run exists (the sink opens on its own thread, maybe after the checkpoint)."""
    command = [sys.executable, "-m", "rlops", "train", *tiny_args(
        "ppo", *mlflow_args(uri, "--store.run-name", name, "--train.checkpoint-freq", "128"), steps=10_000_000)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list(Path("rlruns", name, "checkpoints").glob("step-*/manifest.json")) or not _mlflow_run_exists(uri, name):
        assert process.poll() is None and time.monotonic() < deadline, \
            "the trainer never checkpointed, or never opened its MLflow run"
        time.sleep(0.05)
    return process


def _mlflow_run_exists(uri: str, run_id: str) -> bool:
    """Read-only, with sqlite3 itself: an MLflow client here would race the trainer's migrations."""
    import sqlite3

    path = Path(uri[len("sqlite:///"):])
    if not path.exists():
        return False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM tags WHERE key = 'rlops.run_id' AND value = ?", (run_id,)).fetchone() is not None
    except sqlite3.Error:  # tables not there yet
        return False
    finally:
        db.close()


@pytest.mark.slow
def test_a_sigkilled_run_is_reconciled_failed_and_a_stopped_run_ends_killed(uri, capsys):
    killed = launch(uri, "sigkilled")
    killed.kill()  # SIGKILL: no end record, the MLflow run stays RUNNING
    killed.wait()
    client, run = mlflow_run(uri, "sigkilled")
    assert run.info.status == "RUNNING"
    assert main(["runs", "show", "sigkilled", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])["status"] == "lost"
    run = client.get_run(run.info.run_id)
    assert run.info.status == "FAILED" and run.data.tags["rlops.end_reason"].startswith("lost: ")

    stopped = launch(uri, "stopped")
    stopped.terminate()  # SIGTERM: a stop, the run ends "stopped"
    assert stopped.wait(60) == 1
    _, run = mlflow_run(uri, "stopped")
    assert run.info.status == "KILLED"
    assert records_of(Path("rlruns/stopped/train_log.jsonl"))[-1].status == "stopped"
