"""The vector engine (``train.engine = "vector"``): rlops's own PPO and A2C over batched envs.

Thousands of envs are stepped as arrays, and rollouts, advantages and updates stay on the
device. It reads like CleanRL's ppo.py, one concern a module: ``hyperparams`` (the option set),
``envs`` (batched envs), ``normalize`` (running statistics), ``policy`` (the actor-critic),
``buffer`` (rollout storage), ``gae`` (advantages), ``losses`` (the objective), ``loop``
(rollout + update + telemetry), ``state`` (what a checkpoint holds), ``session`` (the run around
it) and ``agent`` (a loaded policy for eval, infer, rollout and serve).
"""
