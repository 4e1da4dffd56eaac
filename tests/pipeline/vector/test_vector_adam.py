"""The vector engine's Adam is torch.optim.Adam's arithmetic and state-dict layout, without the
``torch._dynamo`` import that every torch optimizer pays on first use (~2 CPU-seconds)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch

from rlops.pipeline.vector.adam import Adam


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def _train(net: torch.nn.Module, optimizer, steps: int) -> None:
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    for step in range(steps):
        optimizer.param_groups[0]["lr"] = 1e-3 * (1 - step / (2 * steps))  # as the loop anneals it
        optimizer.zero_grad(set_to_none=True)
        (net(x) - 1).square().mean().backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5, foreach=True)
        optimizer.step()


def test_steps_match_torch_adam_exactly_and_the_state_dicts_load_across():
    ours, theirs = _net(), _net()
    mine, torch_adam = Adam(ours.parameters(), lr=1e-3, eps=1e-5), torch.optim.Adam(theirs.parameters(), lr=1e-3,
                                                                                      eps=1e-5)
    _train(ours, mine, 30)
    _train(theirs, torch_adam, 30)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)
    # A checkpoint written by either (a vector run from before this optimizer, or after) resumes on the other.
    resumed_ours, resumed_theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
    again = Adam(resumed_ours.parameters(), lr=1e-3, eps=1e-5)
    again.load_state_dict(torch_adam.state_dict())
    back = torch.optim.Adam(resumed_theirs.parameters(), lr=1e-3, eps=1e-5)
    back.load_state_dict(mine.state_dict())
    _train(resumed_ours, again, 5)
    _train(resumed_theirs, back, 5)
    for a, b in zip(resumed_ours.parameters(), resumed_theirs.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_state_dict_of_another_network_is_refused():
    optimizer = Adam(_net().parameters(), lr=1e-3)
    other = torch.optim.Adam(torch.nn.Linear(3, 3).parameters())
    with pytest.raises(ValueError, match="holds 2 parameters, this network 4"):
        optimizer.load_state_dict(other.state_dict())


@pytest.mark.slow
def test_a_vector_run_never_imports_torch_dynamo(tmp_path):
    script = ("import sys\nfrom tests.pipeline.vector.helpers import train_vector_tiny\n"
              "result = train_vector_tiny('--eval.freq', '128')\nassert result.status == 'finished'\n"
              "print('torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).resolve().parents[3]),
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
