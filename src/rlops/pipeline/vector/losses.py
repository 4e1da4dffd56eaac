"""The PPO objective (clipped surrogate, optionally clipped value loss, entropy bonus) and its
diagnostics; A2C is the same without clipping. Every mean is over the valid samples only (the
reset steps of next-step autoreset carry an action that did nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossTerms:
    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor


def masked_mean(x: torch.Tensor, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / count


def normalized(advantages: torch.Tensor, mask: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(advantages, mask, count)
    var = masked_mean((advantages - mean).square(), mask, count)
    return (advantages - mean) / (var.sqrt() + 1e-8)


def policy_value_loss(new_log_prob: torch.Tensor, entropy: torch.Tensor, new_value: torch.Tensor,
                      old_log_prob: torch.Tensor, old_value: torch.Tensor, advantages: torch.Tensor,
                      returns: torch.Tensor, mask: torch.Tensor, *, clip_range: float | None,
                      clip_range_vf: float | None, ent_coef: float, vf_coef: float, norm_adv: bool) -> LossTerms:
    """``clip_range`` None is A2C's plain policy gradient; ``clip_range_vf`` None: no value clipping."""
    count = mask.sum().clamp(min=1.0)
    if norm_adv:
        advantages = normalized(advantages, mask, count)
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    if clip_range is None:
        policy_loss = masked_mean(-advantages * new_log_prob, mask, count)
    else:
        surrogate = torch.maximum(-advantages * ratio, -advantages * ratio.clamp(1 - clip_range, 1 + clip_range))
        policy_loss = masked_mean(surrogate, mask, count)
    if clip_range_vf is None:
        value_loss = 0.5 * masked_mean((new_value - returns).square(), mask, count)
    else:
        clipped = old_value + (new_value - old_value).clamp(-clip_range_vf, clip_range_vf)
        value_loss = 0.5 * masked_mean(torch.maximum((new_value - returns).square(), (clipped - returns).square()),
                                       mask, count)
    entropy_mean = masked_mean(entropy, mask, count)
    loss = policy_loss - ent_coef * entropy_mean + vf_coef * value_loss
    with torch.no_grad():
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask, count)
        threshold = clip_range if clip_range is not None else 0.2
        clip_fraction = masked_mean(((ratio - 1).abs() > threshold).to(ratio.dtype), mask, count)
    return LossTerms(loss, policy_loss, value_loss, entropy_mean, approx_kl, clip_fraction)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - Var[returns - values] / Var[returns]: 1 is a perfect critic, 0 no better than a constant."""
    count = mask.sum().clamp(min=1.0)

    def var(x: torch.Tensor) -> torch.Tensor:
        mean = masked_mean(x, mask, count)
        return masked_mean((x - mean).square(), mask, count)

    return 1 - var(returns - values) / var(returns)
