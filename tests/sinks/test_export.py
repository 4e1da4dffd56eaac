"""``rlops export``: a run trained with no backend, published later, holds in TensorBoard, MLflow
and W&B exactly what a live run puts there (the same checks as the live tests, against the same
log); a resumed run's log becomes one MLflow run; what cannot be exported says why and what to do."""

from __future__ import annotations

import json

import pytest

from rlops.cli.app import main
from rlops.options import resolve_options
from rlops.store.run_dir import create_run_directory
from tests.helpers import train_tiny
from tests.sinks.test_mlflow import assert_finished_with_artifacts, assert_same_metrics, closed_port, mlflow_run
from tests.sinks.test_tensorboard import assert_same_scalars
from tests.sinks.test_wandb import assert_same_rows, of_type, read_wandb, rows_of_log, stored_rows


@pytest.fixture
def uri(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"


def export(capsys, run, target: str, *args: str) -> dict:
    assert main(["export", str(run.path), "--to", target, "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow  # a training and an MLflow export: 63 s at load 12
def test_an_exported_run_looks_like_a_live_one(uri, capsys):
    result = train_tiny("ppo", "--train.checkpoint-freq", "128")  # store.backend local: no backend at all
    log = result.run.events_file
    records = sum(1 for line in log.read_text().splitlines() if line.strip())
    assert not (result.run.path / "tensorboard").exists()

    assert export(capsys, result.run, "tensorboard") == {
        "run_id": result.run.name, "sink": "tensorboard", "records": records, "bad_lines": 0, "dropped": 0,
        "failure": None}
    assert_same_scalars(result.run.path / "tensorboard", log)

    assert export(capsys, result.run, "mlflow", "--store.tracking-uri", uri)["dropped"] == 0
    client, run = mlflow_run(uri, result.run.name)
    assert run.data.params["env.env_id"] == "CartPole-v1" and run.data.tags["rl.algorithm"] == "ppo"
    assert_same_metrics(client, run, log)
    assert_finished_with_artifacts(client, run, result, sorted(p.name for p in result.run.checkpoints.iterdir()))


@pytest.mark.slow  # a training, a resume and an export: 39 s at load 12
def test_a_resumed_run_exports_as_one_run(uri, capsys):
    train_tiny("ppo", "--store.run-name", "again", "--train.checkpoint-freq", "128", steps=256)
    second = train_tiny("ppo", "--store.run-name", "again", "--train.resume", steps=384)
    log = second.run.events_file

    export(capsys, second.run, "mlflow", "--store.tracking-uri", uri)
    client, run = mlflow_run(uri, "again")  # one MLflow run, FINISHED by the second end record
    assert_same_metrics(client, run, log)
    assert_finished_with_artifacts(client, run, second, sorted(p.name for p in second.run.checkpoints.iterdir()))
    assert run.data.tags["rlops.changed.train.total_timesteps"] == "384"

    export(capsys, second.run, "wandb")  # one offline W&B run per process, as a live run writes
    files = read_wandb(second.run.path)
    assert len(files) == 2 and {of_type(records, "run")[0]["run_id"] for records in files} == {"again"}
    assert_same_rows(stored_rows([item for records in files for item in of_type(records, "history")]),
                     rows_of_log(log))


def test_what_cannot_be_exported_says_why_and_what_to_do(capsys):
    assert main(["export", "nowhere", "--to", "mlflow"]) == 2  # neither a run id, a directory nor a log
    assert "unknown run 'nowhere'" in capsys.readouterr().err

    run = create_run_directory("rlruns", "empty")
    run.write_json(run.options_file, resolve_options(environ={}, args=[]).options.model_dump(mode="json"))
    run.events_file.write_text("")
    assert main(["export", str(run.path), "--to", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "holds no records to export" in err and "hint: check it with rlops log validate" in err

    assert main(["export", str(run.path), "--to", "neptune"]) == 2
    assert "unknown export target 'neptune'" in capsys.readouterr().err


def test_an_unreachable_tracking_server_fails_the_export_with_a_hint(capsys):
    result = train_tiny("ppo")
    assert main(["export", str(result.run.path), "--to", "mlflow",
                 "--store.tracking-uri", f"http://127.0.0.1:{closed_port()}"]) == 1
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "hint: start it (mlflow server ...) or fix --store.tracking-uri" in err


def test_a_run_directory_without_a_log_says_what_to_do(capsys):
    run = create_run_directory("rlruns", "nolog")
    run.write_json(run.options_file, resolve_options(environ={}, args=[]).options.model_dump(mode="json"))
    assert main(["export", str(run.path), "--to", "tensorboard"]) != 0
    assert main(["export", "nowhere", "--to", "tensorboard"]) != 0
    assert capsys.readouterr().err.count("hint:") == 2


def test_a_crafted_log_cannot_make_a_backend_upload_files_outside_the_run(tmp_path):
    from rlops.store.run_dir import inside_run_dir as inside_run  # the one confinement, the API's too

    run = tmp_path / "run"
    (run / "plots").mkdir(parents=True)
    (tmp_path / "secret").write_text("key")
    (run / "link").symlink_to(tmp_path / "secret")
    assert inside_run(run, "plots") == (run / "plots").resolve()
    for hostile in ("../secret", str(tmp_path / "secret"), "plots/../../secret", "link"):
        assert inside_run(run, hostile) is None, hostile
