"""The vector engine as a user drives it: ``rlops train --train.engine vector`` in a real
process, ``rlops log validate`` on its log, and ``rlops serve`` serving the model it made."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import numpy as np

from rlops.pipeline.loading import load_policy, open_checkpoint
from tests.api.test_policy_server import server
from tests.pipeline.vector.helpers import vector_args


def rlops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlops", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_rlops_train_vector_then_log_validate_and_serve():
    trained = rlops("train", *vector_args("--store.run-name", "cli", steps=256), "--json")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["status"] == "finished" and summary["env_steps"] == 256 and summary["model_id"]
    checked = rlops("log", "validate", summary["events"])
    assert checked.returncode == 0, checked.stdout + checked.stderr

    loaded = load_policy(open_checkpoint(summary["run"]), device="cpu")
    batch = np.random.default_rng(0).normal(0, 0.05, size=(32, 4)).astype(np.float32)
    try:
        expected, _ = loaded.model.predict(batch, deterministic=True)
    finally:
        loaded.close()
    with server(summary["run"]) as url, httpx.Client(base_url=url, timeout=10) as client:
        described = client.get("/v1/model").json()
        assert described["model_path"] == summary["model"] and described["observation_shape"] == [4]
        one = client.post("/v1/act", json={"observation": batch[0].tolist()})
        assert one.status_code == 200 and one.json()["action"] == int(expected[0])
        many = client.post("/v1/act", json={"observations": batch.tolist()})
        assert many.json()["actions"] == expected.tolist()  # the served policy is the trained one
        wrong = client.post("/v1/act", json={"observation": [0.0, 1.0]})
        assert wrong.status_code == 422 and "[4]" in wrong.json()["error"]["message"]
