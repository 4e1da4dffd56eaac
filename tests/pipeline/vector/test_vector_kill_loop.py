"""Crash safety of the vector engine: SIGKILLed at random instants (checkpoint writes included),
it always resumes from a complete checkpoint, and the run it ends with is the run it would have
been uninterrupted: same env steps, same normalization statistics, same weights."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rlops.events.reader import BadLine
from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import latest_checkpoint, list_checkpoints, read_checkpoint, verify_files
from tests.pipeline.test_kill_loop import check_on_disk, kill_at_random, records, scan
from tests.pipeline.vector.helpers import train_vector_tiny, vector_args

KILLS = 8
ROLLOUT = 128  # 16 steps x 8 envs; a checkpoint after every rollout
ARGS = ("--obs.normalize", "all", "--train.checkpoint-freq", str(ROLLOUT), "--store.model-dir", "runs",
        "--agent.hyperparams", '{"n_steps": 16, "n_epochs": 2, "n_minibatches": 2, "anneal_lr": false}')


def command(steps: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "rlops", "train", *vector_args(*ARGS, "--store.run-name", "crashy", steps=steps),
            "--eval.record-steps", "false", *(["--train.resume"] if resume else [])]


@pytest.mark.slow
def test_sigkill_loop_ends_with_the_uninterrupted_run(tmp_path):
    rng = random.Random(15)
    run = Path("runs") / "crashy"
    root, log = run / "checkpoints", run / "train_log.jsonl"
    start = None
    killed = 0
    for index in range(KILLS):
        mode = ("training", "mid-write")[index % 2]
        proc = subprocess.Popen(command(10_000_000, resume=start is not None), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            kill_at_random(proc, root, mode, rng)
        finally:
            proc.kill()
            killed += proc.wait() == -signal.SIGKILL
        start = check_on_disk(root, start)
    total = start.env_steps + 2 * ROLLOUT
    final = subprocess.run(command(total, resume=True), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert killed == KILLS and scan(root)[1] == []
    report = validate_log(log)
    assert report.ok and report.by_type["resume"] >= KILLS - 1, report.anomalies[:5]
    assert not [r for r in records(log) if isinstance(r, BadLine)]
    for path in list_checkpoints(root):
        assert verify_files(read_checkpoint(path)) == [], path
    ended = latest_checkpoint(root)
    assert ended.env_steps == total

    whole = train_vector_tiny(*ARGS, "--store.run-name", "whole", steps=total)
    with np.load(whole.checkpoint.path / "normalization.npz") as a, np.load(ended.path / "normalization.npz") as b:
        for key in ("obs_mean", "obs_var", "obs_count", "ret_var"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-9)
    first = torch.load(whole.checkpoint.path / "parameters.pt", weights_only=True)["policy"]
    second = torch.load(ended.path / "parameters.pt", weights_only=True)["policy"]
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, rtol=1e-5, atol=1e-6)
