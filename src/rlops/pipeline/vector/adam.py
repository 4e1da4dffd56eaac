"""Adam, written out: torch.optim.Adam's arithmetic (no weight decay, no amsgrad) and its state
dict's layout, so checkpoints written with either load into the other.

Why not torch.optim: every ``torch.optim.Optimizer`` imports ``torch._dynamo`` on first use
(``zero_grad`` and ``add_param_group`` are ``_disable_dynamo``-wrapped), which costs about as
much CPU as importing torch itself (~2 s here): a fifth of solving CartPole. The arithmetic is
torch's CPU default (one parameter at a time), in its order, so the results agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


# torch.optim.Adam's group settings that this Adam has fixed: written into the state dict so that
# torch's Adam can load it (it reads them at each step).
TORCH_GROUP = {"weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
               "differentiable": False, "fused": None, "decoupled_weight_decay": False}


class Adam:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params = [p for p in params if p.requires_grad]
        # One group, in torch's shape: the loop anneals ``param_groups[0]["lr"]`` as it would torch's.
        self.param_groups: list[dict[str, Any]] = [{"lr": lr, "betas": betas, "eps": eps,
                                                    "params": list(range(len(self.params)))}]
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        (beta1, beta2), eps, lr = group["betas"], group["eps"], group["lr"]
        self.steps += 1
        step_size = lr / (1 - beta1 ** self.steps)
        correction = math.sqrt(1 - beta2 ** self.steps)
        for param, avg, sq in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            grad = param.grad if param.grad is not None else torch.zeros_like(param)
            avg.lerp_(grad, 1 - beta1)
            sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            param.addcdiv_(avg, (sq.sqrt() / correction).add_(eps), value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        state = {index: {"step": torch.tensor(float(self.steps)), "exp_avg": avg.clone(), "exp_avg_sq": sq.clone()}
                 for index, (avg, sq) in enumerate(zip(self.exp_avg, self.exp_avg_sq, strict=True))}
        return {"state": state, "param_groups": [{**TORCH_GROUP, **group} for group in self.param_groups]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        groups = saved["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"the saved optimizer holds {sum(len(g['params']) for g in groups)} parameters, "
                             f"this network {len(self.params)}")
        self.param_groups[0]["lr"] = float(groups[0]["lr"])
        state = saved["state"]
        self.steps = int(float(state[0]["step"])) if state else 0
        for index, (avg, sq) in enumerate(zip(self.exp_avg, self.exp_avg_sq, strict=True)):
            if index in state:
                avg.copy_(state[index]["exp_avg"])
                sq.copy_(state[index]["exp_avg_sq"])
            else:
                avg.zero_()
                sq.zero_()
