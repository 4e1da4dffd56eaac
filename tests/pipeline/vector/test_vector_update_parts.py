"""Two parts of the vector engine's update and evaluation that are faster than torch's defaults
and must mean exactly the same: the first layers' backward (policy.InputLinear) and the periodic
evaluation in place (vector/evaluation.py)."""

from __future__ import annotations

import torch

from rlops.options import resolve_options
from rlops.options.schema import EnvOptions
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.evaluation import evaluate_in_place
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.loop import VectorLearner
from rlops.pipeline.vector.policy import InputLinear
from tests.pipeline.vector.helpers import vector_args


def test_the_first_layer_has_torch_linears_gradients_and_state_dict():
    torch.manual_seed(0)
    ours, theirs = InputLinear(4, 8), torch.nn.Linear(4, 8)
    theirs.load_state_dict(ours.state_dict())
    assert set(ours.state_dict()) == {"weight", "bias"}
    x, grad = torch.randn(300, 4), torch.randn(300, 8)
    ours(x).backward(grad)
    theirs(x).backward(grad)
    assert torch.allclose(ours.weight.grad, theirs.weight.grad, atol=1e-5)
    assert torch.allclose(ours.bias.grad, theirs.bias.grad, atol=1e-5)
    needs_grad = x.clone().requires_grad_()
    ours(needs_grad).sum().backward()  # an input that wants its gradient takes torch's path
    assert needs_grad.grad is not None


def _learner() -> tuple[VectorLearner, EnvOptions]:
    options = resolve_options(environ={}, args=vector_args()).options
    env = BatchedEnv(options.env, options.env.n_envs, 1, torch.device("cpu"))
    return VectorLearner(env, hyperparams_of(options), "none", None, 256, torch.device("cpu")), options.env


def test_an_evaluation_in_place_scores_whole_episodes_and_leaves_trainings_rng_alone():
    learner, env_options = _learner()
    try:
        state = torch.get_rng_state()
        result = evaluate_in_place(learner.policy, learner.normalizer, env_options, 3, False,
                                   torch.device("cpu"))
        assert torch.equal(torch.get_rng_state(), state)
        # CartPole pays 1 a step: each episode's return is its length, and each ran to its end.
        assert result.episodes == 3 and result.rewards == [float(n) for n in result.lengths]
        assert all(n >= 8 for n in result.lengths) and not result.deterministic
        again = evaluate_in_place(learner.policy, learner.normalizer, env_options, 3, True,
                                  torch.device("cpu"))
        assert again.rewards == evaluate_in_place(learner.policy, learner.normalizer, env_options, 3, True,
                                                  torch.device("cpu")).rewards  # seeded as evaluations are
    finally:
        learner.env.close()
