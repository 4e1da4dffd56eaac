"""Generalized advantage estimation over a whole rollout at once: no loop over envs.

The TD errors of every step are one tensor expression; what stays a loop is the recursion over
time (``n_steps`` iterations of one fused multiply-add over all envs). Two masks keep truncation
exact: a terminated step does not bootstrap the next value, while any ended episode (terminated
or truncated) stops the advantage from flowing back across its end. With gymnasium's next-step
autoreset, the value after a truncated step is the value of the episode's true final
observation, so a time limit is bootstrapped as it should be. ``gae_lambda = 1`` gives A2C's
n-step returns.
"""

from __future__ import annotations

import torch


def advantages(rewards: torch.Tensor, values: torch.Tensor, next_value: torch.Tensor, terminated: torch.Tensor,
               dones: torch.Tensor, gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns), each ``(n_steps, n_envs)``."""
    next_values = torch.cat([values[1:], next_value[None]])
    deltas = rewards + gamma * next_values * (~terminated) - values
    carry = (gamma * gae_lambda) * (~dones).to(values.dtype)
    out = torch.empty_like(values)
    last = torch.zeros_like(next_value)
    for t in range(values.shape[0] - 1, -1, -1):
        last = torch.addcmul(deltas[t], carry[t], last)
        out[t] = last
    return out, out + values
