"""A vector run that fails (an env that raises, a loss that turns NaN) leaves a receipt, an
``error`` record and a failed ``end``, as an SB3 run does."""

from __future__ import annotations

import json

import pytest

from rlops.errors import TrainingError
from rlops.events.validate import validate_log
from tests.pipeline.vector.helpers import train_vector_tiny

FAULTY = ["--env.n-envs", "4", "--env.vectorization", "sync",
          "--agent.hyperparams", '{"n_steps": 16, "n_epochs": 1, "n_minibatches": 1}']


def last_records(run_dir):
    log = next(run_dir.glob("rlruns/*/train_log.jsonl"))
    return log, [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize(("factory", "error", "message"), [
    ("crashing", RuntimeError, "lost its connection"),
    ("nan_rewards", TrainingError, "became nan"),
])
def test_a_failed_run_leaves_a_receipt(factory, error, message, tmp_path):
    env = ["--env.env-id", f"tests.pipeline.vector.faulty_envs:{factory}", *FAULTY]
    with pytest.raises(error, match=message) as raised:
        train_vector_tiny(env=env, steps=512)
    receipt = raised.value.receipt
    summary = json.loads((receipt / "receipt.json").read_text())
    assert message in summary["error"] and (receipt / "traceback.txt").exists()
    assert (receipt / "last_steps.npz").exists() and (receipt / "options.json").exists()
    log, records = last_records(tmp_path)
    assert [r["type"] for r in records[-3:]] == ["error", "artifact", "end"] and records[-1]["status"] == "failed"
    assert validate_log(log).ok
