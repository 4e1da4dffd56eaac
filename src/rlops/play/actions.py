"""What a page may send as an action: checked against the env's action space before the env sees
it. A message that is not a valid action is refused (and the session counts it), never stepped."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.errors import UsageError


class ActionRefused(UsageError):
    """An action the env's action space does not hold: says what it does hold."""


def checked_action(space: spaces.Space, value: Any) -> Any:
    """``value`` as the env takes it (an int for Discrete, a float32 array for Box), or ActionRefused."""
    if isinstance(space, spaces.Discrete):
        if isinstance(value, bool) or not isinstance(value, int) or not space.contains(np.int64(value)):
            raise ActionRefused(f"action {value!r} is not in {space}",
                                hint=f"send an integer from {space.start} to {space.start + space.n - 1}")
        return int(value)
    if isinstance(space, spaces.Box):
        numbers = value if isinstance(value, list) else None
        if (numbers is None or len(numbers) != int(np.prod(space.shape))
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in numbers)):
            raise ActionRefused(f"action {value!r} is not in {space}",
                                hint=f"send a list of {int(np.prod(space.shape))} finite numbers")
        array = np.asarray(numbers, dtype=space.dtype).reshape(space.shape)
        if not space.contains(array):
            raise ActionRefused(f"action {value!r} is outside {space}", hint="stay within the space's bounds")
        return array
    raise ActionRefused(f"actions of {type(space).__name__} spaces cannot be played here",
                        hint="play an env with a Discrete or Box action space")


def as_record(action: Any) -> Any:
    """An action as a step record holds it: plain JSON."""
    return action.tolist() if hasattr(action, "tolist") else action
