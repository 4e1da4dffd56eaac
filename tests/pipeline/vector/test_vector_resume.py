"""A resumed vector run continues exactly: CartPole's batched env state, the RNGs, the optimizer
and the normalization statistics are in the checkpoint, so stopping and resuming changes nothing."""

from __future__ import annotations

import json

import numpy as np
import torch

from tests.pipeline.vector.helpers import resume_tiny, train_vector_tiny

ARGS = ("--obs.normalize", "all", "--train.checkpoint-freq", "256", "--agent.hyperparams",
        '{"n_steps": 16, "n_epochs": 2, "n_minibatches": 2, "anneal_lr": false}')


def test_a_resumed_run_matches_an_uninterrupted_one():
    whole = train_vector_tiny(*ARGS, "--store.run-name", "whole", steps=512)
    train_vector_tiny(*ARGS, "--store.run-name", "parts", steps=256)
    resumed = resume_tiny("parts", *ARGS, steps=512)
    assert resumed.env_steps == whole.env_steps == 512

    first = torch.load(whole.checkpoint.path / "parameters.pt", weights_only=True)
    second = torch.load(resumed.checkpoint.path / "parameters.pt", weights_only=True)
    for name, tensor in first["policy"].items():
        torch.testing.assert_close(second["policy"][name], tensor, rtol=1e-5, atol=1e-6)
    with np.load(whole.checkpoint.path / "normalization.npz") as a, \
            np.load(resumed.checkpoint.path / "normalization.npz") as b:
        for key in ("obs_mean", "obs_var", "obs_count", "ret_var"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-9)
    lines = [json.loads(line) for line in resumed.run.events_file.read_text().splitlines()]
    resume = next(r for r in lines if r["type"] == "resume")
    assert resume["checkpoint"] == "checkpoints/step-000000000256" and resume["env_steps"] == 256
    whole_state = json.loads((whole.checkpoint.path / "state.json").read_text())["counters"]
    resumed_state = json.loads((resumed.checkpoint.path / "state.json").read_text())["counters"]
    assert resumed_state["n_updates"] == whole_state["n_updates"]
    assert resumed_state["episodes"] == whole_state["episodes"]
