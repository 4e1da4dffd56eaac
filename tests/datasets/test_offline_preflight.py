"""The offline runner's pre-flight: nothing starts on a damaged or unknown dataset, on an
algorithm for the other kind of actions, in an interpreter without d3rlpy or without the env."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rlops.datasets.catalog import DatasetCatalog
from rlops.errors import PreflightError, UsageError
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from tests.datasets.test_import import _d3rlpy_file


def service(*args: str) -> TrainerService:
    return TrainerService(resolve_options(environ={}, args=list(args)).options)


@pytest.fixture
def dataset(tmp_path):
    _d3rlpy_file(tmp_path / "cartpole.h5")
    catalog = DatasetCatalog("rlruns", "rlruns/rlops.db")
    try:
        return catalog.import_path(tmp_path / "cartpole.h5", name="cp", env_id="CartPole-v1")
    finally:
        catalog.close()


def _no_runs(svc: TrainerService) -> None:
    assert svc.store.list_runs() == []
    assert [p.name for p in Path("rlruns").iterdir() if p.is_dir()] == ["datasets"]


def test_a_flipped_byte_stops_the_run_before_it_starts_naming_the_file(dataset):
    data = Path(dataset["path"]) / "data" / "main_data.hdf5"
    raw = bytearray(data.read_bytes())
    raw[-100] ^= 0xFF
    data.write_bytes(bytes(raw))
    svc = service()
    try:
        with pytest.raises(PreflightError, match="data/main_data.hdf5 does not match its sha256"):
            svc.start("offline", ["--dataset", "cp"], name="damaged")
        _no_runs(svc)
    finally:
        svc.close()


def test_unknown_dataset_and_wrong_algorithm_are_usage_errors(dataset):
    svc = service()
    try:
        with pytest.raises(UsageError, match="no dataset 'nope'; known: cp"):
            svc.start("offline", ["--dataset", "nope"], name="unknown")
        with pytest.raises(UsageError, match=r"(?s)--algo iql is for continuous actions and dataset 'cp' has Discrete\(2\) actions.*discrete_cql, discrete_bc"):
            svc.start("offline", ["--dataset", "cp", "--algo", "iql"], name="wrong")
        with pytest.raises(UsageError, match="offline runner: .*--dataset"):
            svc.start("offline", [], name="nothing")
        _no_runs(svc)
    finally:
        svc.close()


def test_an_interpreter_without_d3rlpy_or_without_the_env_is_refused(dataset, tmp_path):
    svc = service()  # orchestrator.python unset: this interpreter, which has no d3rlpy
    try:
        with pytest.raises(PreflightError, match=r"cannot import d3rlpy"):
            svc.start("offline", ["--dataset", "cp"], name="nolib")
    finally:
        svc.close()
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    svc = service("--orchestrator.python", str(bare / "bin" / "python"))
    try:
        with pytest.raises(PreflightError, match=r"env 'CartPole-v1' cannot be made by .*No module named 'gymnasium'"):
            svc.start("offline", ["--dataset", "cp"], name="noenv")
        _no_runs(svc)
    finally:
        svc.close()
