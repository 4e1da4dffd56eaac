"""The CPU update reuses the heap: after a few warm-up iterations a rollout and its update fault
(almost) no pages in (vector/heap.py). Without it glibc hands the 1 MB temporaries of each
minibatch step back to the kernel and faults them in again: ~600 faults an iteration here."""

from __future__ import annotations

import resource
import statistics
import sys

import pytest
import torch

from rlops.options import resolve_options
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.heap import keep_freed_memory
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.loop import VectorLearner


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_a_cpu_update_faults_no_pages_in_once_warm():
    # One minibatch of 4,096 samples through 64-wide layers: 1 MB activations, above glibc's default
    # mmap threshold (128 KB), as at the benchmark's 4,096 envs.
    args = ["--train.engine", "vector", "--env.env-id", "CartPole-v1", "--env.n-envs", "512",
            "--agent.hyperparams", '{"n_steps": 8, "n_epochs": 2, "n_minibatches": 1}', "--train.device", "cpu",
            "--agent.net-arch", "[64, 64]"]
    options = resolve_options(environ={}, args=args).options
    env = BatchedEnv(options.env, 512, 1, torch.device("cpu"))
    try:
        learner = VectorLearner(env, hyperparams_of(options), "none", None, 10**6, torch.device("cpu"))
        learner.start(1)
        for _ in range(3):  # the heap grows to the loop's working set
            learner.collect(None)
            learner.update()
        faults = []
        for _ in range(8):
            before = _faults()
            learner.collect(None)
            learner.update()
            faults.append(_faults() - before)
        # The median: now and then the heap still grows (a few hundred faults once); without the
        # thresholds most iterations fault 500-1,800 pages in.
        assert statistics.median(faults) < 100, faults
    finally:
        env.close()
    assert keep_freed_memory()  # glibc here: set once, and saying so again
