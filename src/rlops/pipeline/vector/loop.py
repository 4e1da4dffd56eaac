"""PPO / A2C over batched envs: collect a rollout, compute advantages, update (CleanRL's ppo.py).

``VectorLearner`` holds everything that changes while training (weights, optimizer, normalizer,
counters, the envs' current observation), so a checkpoint taken between two rollouts holds a
run exactly (``state.py``). Nothing here waits for the device except where ``target_kl`` asks
to stop an update early (one read per epoch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rlops.pipeline.vector.adam import Adam
from rlops.pipeline.vector.buffer import RolloutBuffer
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.gae import advantages
from rlops.pipeline.vector.heap import keep_freed_memory
from rlops.pipeline.vector.hyperparams import Hyperparams
from rlops.pipeline.vector.losses import explained_variance, policy_value_loss
from rlops.pipeline.vector.normalize import Normalizer
from rlops.pipeline.vector.policy import ActorCritic
from rlops.pipeline.vector.telemetry import RolloutTelemetry


class VectorLearner:
    def __init__(self, env: BatchedEnv, params: Hyperparams, normalize: str, clip_obs: float | None,
                 total_timesteps: int, device: torch.device) -> None:
        self.env, self.params, self.device = env, params, device
        if device.type == "cpu":
            keep_freed_memory()  # the update's temporaries reuse the heap instead of faulting pages in (heap.py)
        self.total_timesteps = total_timesteps
        self.n_envs = env.n_envs
        self.policy = ActorCritic(env.single_observation_space, env.single_action_space, params).to(device)
        self.optimizer = Adam(self.policy.parameters(), lr=params.learning_rate, eps=1e-5)
        obs_shape = tuple(env.single_observation_space.shape)
        self.buffer = RolloutBuffer(params.n_steps, self.n_envs, obs_shape, self.policy.action_shape,
                                    self.policy.discrete, device)
        self.normalizer = Normalizer(normalize, obs_shape, self.n_envs, params.gamma, clip_obs, device)
        self.num_timesteps = 0
        self.n_updates = 0  # gradient steps
        self.iterations = 0  # rollouts
        self.obs: torch.Tensor | None = None  # raw observation the next step acts on
        self.resetting = torch.zeros(self.n_envs, dtype=torch.bool, device=device)  # next step is a reset step

    def start(self, seed: int) -> None:
        self.obs = self.env.reset(seed=seed)
        self.resetting.zero_()

    @property
    def rollout_steps(self) -> int:
        return self.params.n_steps * self.n_envs

    def collect(self, telemetry: RolloutTelemetry | None) -> None:
        """One rollout of ``n_steps`` vector steps into the buffer."""
        buffer, policy, env, normalizer = self.buffer, self.policy, self.env, self.normalizer
        obs = self.obs
        with torch.no_grad():
            for t in range(self.params.n_steps):
                seen = normalizer.observations(obs, update=True)
                action, log_prob, value, _ = policy.act(seen)
                valid = (~self.resetting).to(torch.float32)
                buffer.store(t, seen, action, log_prob, value, valid)
                result = env.step(policy.env_action(action))
                done = result.terminated | result.truncated
                buffer.store_outcome(t, normalizer.rewards(result.rewards, done), result.terminated, done)
                self.num_timesteps += self.n_envs
                if telemetry is not None:
                    telemetry.step(self.num_timesteps, result.rewards, result.terminated, result.truncated,
                                   self.resetting, valid, action, value, log_prob, result.infos)
                self.resetting = done
                obs = result.obs
            self.obs = obs
            self.next_value = policy.value(normalizer.observations(obs, update=False))
        self.iterations += 1

    def update(self) -> dict[str, torch.Tensor]:
        """Advantages, then ``n_epochs`` passes of minibatch steps; returns the means of the losses
        and diagnostics as device tensors (read at the record, with everything else)."""
        params, buffer = self.params, self.buffer
        self._anneal()
        with torch.no_grad():
            adv, returns = advantages(buffer.rewards, buffer.values, self.next_value, buffer.terminated,
                                      buffer.dones, params.gamma, params.gae_lambda)
        obs, actions, old_log_probs = buffer.flat("obs"), buffer.flat("actions"), buffer.flat("log_probs")
        old_values, valid = buffer.flat("values"), buffer.flat("valid")
        adv, returns = adv.reshape(-1), returns.reshape(-1)
        batch = obs.shape[0]
        size = params.minibatch_size(self.n_envs)
        ppo = params.algorithm == "ppo"
        clip_vf = (params.clip_range_vf or params.clip_range) if ppo and params.clip_vloss else None
        sums = torch.zeros(6, device=self.device)
        steps = 0
        samples = (obs, actions, old_log_probs, old_values, adv, returns, valid)
        for _ in range(params.n_epochs):
            if size < batch:
                # One gather of each quantity an epoch, in the epoch's order; the minibatches are then
                # contiguous slices (the same samples as indexing each minibatch, in 1/n_minibatches the ops).
                order = torch.randperm(batch, device=self.device)
                shuffled = tuple(x.index_select(0, order) for x in samples)
            else:
                shuffled = samples
            for start in range(0, batch, size):
                mb_obs, mb_actions, mb_log_probs, mb_values, mb_adv, mb_returns, mb_valid = (
                    x[start:start + size] for x in shuffled)
                new_log_prob, entropy, new_value = self.policy.evaluate(mb_obs, mb_actions)
                terms = policy_value_loss(new_log_prob, entropy, new_value, mb_log_probs, mb_values, mb_adv,
                                          mb_returns, mb_valid,
                                          clip_range=params.clip_range if ppo else None, clip_range_vf=clip_vf,
                                          ent_coef=params.ent_coef, vf_coef=params.vf_coef, norm_adv=params.norm_adv)
                self.optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), params.max_grad_norm, foreach=True)
                self.optimizer.step()
                sums += torch.stack([terms.policy_loss, terms.value_loss, -terms.entropy, terms.approx_kl,
                                     terms.clip_fraction, terms.loss]).detach()
                steps += 1
                self.n_updates += 1
            if params.target_kl is not None and float(terms.approx_kl) > params.target_kl:
                break  # the one read that waits for the device, and only when target_kl asks for it
        means = sums / max(steps, 1)
        stats = dict(zip(("policy_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction", "loss"),
                         means, strict=True))
        stats["explained_variance"] = explained_variance(old_values, returns, valid)
        stats["learning_rate"] = torch.tensor(self.optimizer.param_groups[0]["lr"])
        if not self.policy.discrete:
            stats["std"] = self.policy.log_std.detach().exp().mean()
        return stats

    def _anneal(self) -> None:
        if self.params.anneal_lr:
            # Progress at the start of this rollout's update, from the counters alone (so resumes agree).
            done = (self.num_timesteps - self.rollout_steps) / self.total_timesteps
            self.optimizer.param_groups[0]["lr"] = max(0.0, 1.0 - done) * self.params.learning_rate


def train_loop(learner: VectorLearner, telemetry: RolloutTelemetry | None,
               after_rollout: Callable[[dict[str, torch.Tensor]], bool]) -> None:
    """Rollouts until the budget is spent or ``after_rollout`` (record, checkpoint, eval) says stop."""
    while learner.num_timesteps < learner.total_timesteps:
        learner.collect(telemetry)
        stats = learner.update()
        if not after_rollout(stats):
            return
