"""A TorchScript policy in an rlops checkpoint (what the offline runner exports) is evaluated,
run and served by the main environment without the library that trained it."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from rlops.cli.app import main
from rlops.errors import CheckpointCorruptError
from rlops.options import resolve_options
from rlops.pipeline.checkpoints import read_checkpoint, write_checkpoint
from rlops.pipeline.loading import load_policy
from rlops.services.policy import ServedPolicy
from rlops.services.registry_ops import register_checkpoint
from rlops.store.registry import Registry
from tests.api.test_policy_server import server


class PushTowardsPole(torch.nn.Module):
    """CartPole's classic hand policy: push the way the pole leans (a graph of known answers)."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs[:, 2] + obs[:, 3] > 0).long()


def _checkpoint(tmp_path, module=None):
    options = resolve_options(environ={}, args=["--env.env-id", "CartPole-v1", "--agent.algorithm", "discrete_bc",
                                                "--env.seed", "0"]).options

    def fill(directory):
        with warnings.catch_warnings():  # torch 2.13 deprecates TorchScript; d3rlpy still exports it
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(torch.jit.script(module or PushTowardsPole()), str(directory / "policy.pt"))

    return write_checkpoint(tmp_path / "checkpoints", 100, fill,
                            {"options": options.model_dump(mode="json"), "policy_format": "torchscript"})


def test_loaded_and_evaluated_without_d3rlpy(tmp_path):
    checkpoint = _checkpoint(tmp_path)
    loaded = load_policy(checkpoint, device="cpu")
    try:
        obs = np.array([[0.0, 0.0, 0.1, 0.1], [0.0, 0.0, -0.1, -0.1]], dtype=np.float32)
        assert loaded.model.predict(obs)[0].tolist() == [1, 0]
    finally:
        loaded.close()
    served = ServedPolicy(checkpoint)
    assert served.act([0.0, 0.0, -0.2, 0.0])[0] == 0
    assert served.describe()["algorithm"] == "discrete_bc"


def test_eval_scores_it_on_its_registry_row_and_serve_answers(tmp_path, capsys):
    checkpoint = _checkpoint(tmp_path)
    registry = Registry("rlruns/rlops.db")
    model_id = register_checkpoint(registry, checkpoint, tags={"offline_dataset": "hand", "dataset_sha256": "ab"})
    registry.close()
    assert main(["eval", "--model-id", str(model_id), "--eval.episodes", "3", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["mean_reward"] > 100  # the hand policy balances far longer than random (about 20)
    with server("--model-id", str(model_id), "--infer.allow-unvalidated", "true") as url:
        import httpx

        with httpx.Client(base_url=url, timeout=10) as client:
            answer = client.post("/v1/act", json={"observations": [[0, 0, 0.1, 0.1], [0, 0, -0.1, -0.1]]})
            assert answer.status_code == 200, answer.text
            assert answer.json()["actions"] == [1, 0]


def test_a_damaged_graph_is_a_clean_error(tmp_path):
    checkpoint = _checkpoint(tmp_path)
    (checkpoint.path / "policy.pt").write_bytes(b"not a zip archive")
    with pytest.raises(CheckpointCorruptError, match="policy.pt has 17 bytes, expected"):
        load_policy(read_checkpoint(checkpoint.path))
    unverified = read_checkpoint(checkpoint.path, verify=False)
    with pytest.raises(CheckpointCorruptError, match="not a loadable TorchScript policy"):
        load_policy(unverified)
