"""Continuous actions through the offline runner (issue 14.2): a Pendulum dataset recorded from a
TD3 policy trains TD3+BC end to end (records that validate, the run filed under its env and
algorithm, registry rows tagged with the dataset, rlops's own score on the last); CQL, IQL and BC
train through the adapter on it; and every exported actor maps its tanh onto the env's bounds
(Pendulum's +-2), as the runner learns continuous actions scaled to [-1, 1]."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from rlops.datasets.catalog import DatasetCatalog
from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import read_checkpoint
from rlops.pipeline.torchscript_init import exported_layers
from rlops.store.registry import Registry
from tests.datasets.offline_python import d3rlpy_python
from tests.datasets.offline_runs import offline_service, output_of, settle
from tests.helpers import train_tiny

pytestmark = pytest.mark.slow  # a TD3 policy, then offline runs in d3rlpy's interpreter
ADAPTER = Path(__file__).parents[2] / "src" / "rlops" / "offline" / "d3rlpy_adapter.py"
LOW, HIGH = -2.0, 2.0  # Pendulum-v1's torque


@pytest.fixture(scope="module")
def pendulum(tmp_path_factory):
    root = tmp_path_factory.mktemp("pendulum")
    db = root / "rlruns" / "rlops.db"
    policy = train_tiny("td3", "--store.model-dir", str(root / "rlruns"), "--registry.db-path", str(db))
    catalog = DatasetCatalog(root / "rlruns", db)
    try:
        dataset = catalog.record(policy.checkpoint, 2, epsilon=0.2, name="pendulum-2")
    finally:
        catalog.close()
    return root, db, dataset


def _assert_scaled_to_the_bounds(checkpoint) -> None:
    """The graph's output is low + (tanh(z) + 1) / 2 * (high - low), z the MLP's last linear layer."""
    layers = exported_layers(checkpoint)
    assert layers[-1].activation == "tanh"
    obs = torch.as_tensor(np.random.default_rng(0).normal(size=(64, 3)) * 3, dtype=torch.float32)
    hidden = obs
    for layer in layers:
        hidden = torch.nn.functional.linear(hidden, layer.weight, layer.bias)
        hidden = torch.relu(hidden) if layer.activation == "relu" else hidden
    expected = LOW + (torch.tanh(hidden) + 1) / 2 * (HIGH - LOW)
    with warnings.catch_warnings():  # torch 2.13 deprecates the TorchScript loader it still has
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(checkpoint.file("policy.pt")))
    assert torch.allclose(module(obs), expected, atol=1e-5)


def test_td3plusbc_on_a_recorded_pendulum_dataset_end_to_end(pendulum):
    root, db, dataset = pendulum
    svc = offline_service("--store.model-dir", str(root / "rlruns"), "--registry.db-path", str(db))
    try:
        run_id = svc.start("offline", ["--dataset", "pendulum-2", "--algo", "td3plusbc", "--steps", "60",
                                       "--steps-per-epoch", "30", "--eval-episodes", "1"], name="td3bc")
        run = settle(svc, run_id, timeout=300)
    finally:
        svc.close()
    assert run["status"] == "finished", output_of(run)
    assert (run["env_id"], run["algorithm"]) == ("Pendulum-v1", "td3plusbc")
    assert validate_log(Path(run["log_path"])).ok
    registry = Registry(db)
    try:
        models = [m for m in registry.list() if m["run_id"] == "td3bc"]
    finally:
        registry.close()
    assert sorted(m["total_timesteps"] for m in models) == [30, 60]
    last = max(models, key=lambda m: m["total_timesteps"])
    assert last["tags"]["dataset_sha256"] == dataset["sha256"] and last["mean_reward"] is not None
    _assert_scaled_to_the_bounds(read_checkpoint(Path(last["model_path"])))


@pytest.mark.parametrize("algo", ["cql", "iql", "bc"])
def test_the_other_continuous_algorithms_train_through_the_adapter(pendulum, algo, tmp_path):
    _, _, dataset = pendulum
    done = subprocess.run([d3rlpy_python(), str(ADAPTER), "--dataset-dir", dataset["path"], "--env", "Pendulum-v1",
                           "--algo", algo, "--steps", "20", "--steps-per-epoch", "20", "--eval-episodes", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["type"] for r in records] == ["meta", "config", "metrics", "eval", "checkpoint", "end"]
    assert records[-1]["status"] == "finished" and np.isfinite(records[3]["mean_reward"])
    assert any("loss" in key for key in records[2])
    _assert_scaled_to_the_bounds(read_checkpoint(tmp_path / records[4]["path"]))
