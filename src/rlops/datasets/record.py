"""Episodes from a trained policy: the env the checkpoint was trained on, raw observations in
(the policy normalizes them itself, as when served), and with probability ``epsilon`` a random
action instead of the policy's, for the coverage that offline algorithms need."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from rlops.datasets.episodes import Episode
from rlops.errors import UsageError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.envs import env_constructor
from rlops.services.policy import ServedPolicy


class PolicyRollout:
    def __init__(self, checkpoint: Checkpoint, epsilon: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise UsageError(f"--epsilon {epsilon} is not a probability", hint="give a number from 0 to 1")
        options = Options.model_validate(checkpoint.options)
        if options.obs.stack_frames:
            raise UsageError("this policy sees stacked frames, and a dataset holds the env's own observations",
                             hint="record from a policy trained without obs.stack_frames")
        self.env_id = options.env.env_id
        self.env = env_constructor(self.env_id, options.env.env_kwargs)()
        self.policy = ServedPolicy(checkpoint, device="cpu")
        self.epsilon = epsilon
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.env.action_space.seed(seed)

    def episodes(self, count: int) -> Iterator[Episode]:
        for index in range(count):
            yield self._episode(self.seed + index)

    def _episode(self, seed: int) -> Episode:
        obs, _ = self.env.reset(seed=seed)
        observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
        while True:
            if self.epsilon and self.rng.random() < self.epsilon:
                action = self.env.action_space.sample()
            else:
                action = self.policy.act(obs)[0]
            obs, reward, terminated, truncated, _ = self.env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(float(reward))
            terminations.append(bool(terminated))
            truncations.append(bool(truncated))
            if terminated or truncated:
                break
        action_dtype = self.env.action_space.dtype
        return Episode(np.asarray(observations, dtype=self.env.observation_space.dtype),
                       np.asarray(actions, dtype=action_dtype), np.asarray(rewards), np.asarray(terminations),
                       np.asarray(truncations), seed=seed)

    def close(self) -> None:
        self.env.close()


def policy_checkpoint(options: Options, model_id: int | None, load_best: bool, path: str | None,
                      env_id: str | None = None) -> tuple[Checkpoint, dict]:
    """The checkpoint to record from (``--model ID``, ``--load-best`` or a path) and where it came from."""
    from rlops.pipeline.loading import open_checkpoint
    from rlops.services.registry_ops import open_registry, resolve_model

    chosen = [given for given in (model_id is not None, load_best, path is not None) if given]
    if len(chosen) != 1:
        raise UsageError("record from one policy", hint="give exactly one of --model ID, --load-best or a PATH")
    if path is not None:
        checkpoint = open_checkpoint(path)
        return checkpoint, {"model_path": str(checkpoint.path)}
    registry = open_registry(options)
    try:
        row, checkpoint = resolve_model(registry, model_id, load_best, env_id, allow_unvalidated=model_id is not None)
    finally:
        registry.close()
    return checkpoint, {"model_id": row["id"], "run_id": row.get("run_id"), "model_path": row["model_path"]}
