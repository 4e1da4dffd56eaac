"""Stop when solved (``eval.stop_reward``): a periodic evaluation that scores the target ends
training early, and the run finishes as at the end of its budget (final evaluation, registry).

Both engines ask the same two questions here, so that the option means one thing for each: is
the option usable (it needs periodic evaluations), and did this evaluation reach it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rlops.errors import UsageError
from rlops.options.schema import Options

if TYPE_CHECKING:
    from rlops.pipeline.evaluate import EvalResult

log = logging.getLogger("rlops.train")


def check_stop_reward(options: Options) -> None:
    """Before training: ``eval.stop_reward`` without ``eval.freq`` would never be looked at."""
    if options.eval.stop_reward is not None and not options.eval.freq:
        raise UsageError(f"eval.stop_reward {options.eval.stop_reward:g} needs periodic evaluations, and eval.freq is 0",
                         hint="set eval.freq (env steps between evaluations), or unset eval.stop_reward")


def reached_stop_reward(options: Options, result: EvalResult, env_steps: int) -> bool:
    target = options.eval.stop_reward
    if target is None or result.mean_reward < target:
        return False
    log.info("eval mean reward %.2f >= eval.stop_reward %g at %d env steps: training stops here",
             result.mean_reward, target, env_steps)
    return True
