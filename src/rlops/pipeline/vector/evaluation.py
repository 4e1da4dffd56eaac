"""Periodic evaluation of the learner in place: the episodes side by side in one batched env,
one forward pass per step for all of them.

The final evaluation goes through ``load_policy`` and SB3's evaluate_policy (one episode after
another, each step recorded for replay); a periodic one only needs the score, and through that
path it cost most of a CartPole run that stops when solved (``eval.stop_reward``). The weights
are the checkpoint's (it was just written from them), the observations are normalized with the
statistics it holds, the envs are seeded as an evaluation's are (``EVAL_SEED_OFFSET``), and the
returns are the env's raw rewards. Training's random streams are left as they were, so that a
resumed run, which skips the evaluation, still continues exactly.
"""

from __future__ import annotations

import torch

from rlops.options.schema import EnvOptions
from rlops.pipeline.evaluate import EvalResult
from rlops.pipeline.loading import EVAL_SEED_OFFSET
from rlops.pipeline.vector.envs import BatchedEnv, vectorization_of
from rlops.pipeline.vector.normalize import Normalizer
from rlops.pipeline.vector.policy import ActorCritic

BATCHED_MODES = ("vector_entry_point", "envpool")


def evaluate_in_place(policy: ActorCritic, normalizer: Normalizer, options: EnvOptions, episodes: int,
                      deterministic: bool, device: torch.device) -> EvalResult:
    """The first episode of each of ``episodes`` envs: mean and std of their returns."""
    mode = vectorization_of(options)
    # One process for all of them: ``async`` would start one subprocess per episode.
    env_options = options.model_copy(update={"vectorization": mode if mode in BATCHED_MODES else "sync"})
    env = BatchedEnv(env_options, episodes, (options.seed or 0) + EVAL_SEED_OFFSET, device)
    returns = torch.zeros(episodes, dtype=torch.float64, device=device)
    lengths = torch.zeros(episodes, dtype=torch.long, device=device)
    running = torch.ones(episodes, dtype=torch.bool, device=device)
    was_training = policy.training
    policy.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            obs = env.reset()
            while bool(running.any()):  # one read per step: the loop must know when the last episode ends
                action, _, _, _ = policy.act(normalizer.observations(obs, update=False), deterministic=deterministic)
                result = env.step(policy.env_action(action))
                returns += result.rewards.to(torch.float64) * running
                lengths += running
                running &= ~(result.terminated | result.truncated)
                obs = result.obs
    finally:
        policy.train(was_training)
        env.close()
    rewards = returns.cpu().numpy()
    return EvalResult(episodes=episodes, mean_reward=float(rewards.mean()), std_reward=float(rewards.std()),
                      mean_length=float(lengths.float().mean()), deterministic=deterministic,
                      rewards=[float(r) for r in rewards], lengths=[int(n) for n in lengths.cpu().numpy()])
