"""Off-policy learners are checkpointed at rollout boundaries too, after SB3 stored the step's
transition and took the gradient steps of its ``train_freq`` steps: a run resumed from a checkpoint
is the uninterrupted run, parameters and replay buffer included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import train_tiny
from tests.pipeline.test_exact_resume import arrays, assert_same_run


@pytest.mark.slow  # three tiny trainings each: ~15 s
@pytest.mark.parametrize("algorithm", ["dqn", "sac"])
def test_an_off_policy_run_resumed_from_a_checkpoint_is_the_uninterrupted_run(algorithm, memory_sink, tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ("--train.checkpoint-freq", "100", "--obs.normalize", "obs")
    train_tiny(algorithm, *common, "--store.run-name", "whole", steps=300)
    train_tiny(algorithm, *common, "--store.run-name", "cut", steps=200)
    train_tiny(algorithm, *common, "--store.run-name", "cut", "--train.resume", steps=300)

    whole, cut = Path("rlruns/whole"), Path("rlruns/cut")
    assert_same_run(cut, whole)
    a = arrays(cut / "checkpoints" / "step-000000000300" / "replay_buffer.npz")
    b = arrays(whole / "checkpoints" / "step-000000000300" / "replay_buffer.npz")
    for key in ("observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)  # the 200th transition is not lost
