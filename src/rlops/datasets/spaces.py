"""Gymnasium spaces in Minari's JSON form (``minari.serialization``), so Minari reads our metadata
and we read Minari's without importing it. Box and Discrete cover the envs offline RL trains on;
other spaces are refused by name rather than written in a form Minari would misread."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.errors import DatasetError, UsageError


def serialize_space(space: spaces.Space) -> str:
    if isinstance(space, spaces.Discrete):
        return json.dumps({"type": "Discrete", "dtype": "int64", "start": int(space.start), "n": int(space.n)})
    if isinstance(space, spaces.Box):
        return json.dumps({"type": "Box", "dtype": str(space.dtype), "shape": list(space.shape),
                           "low": space.low.tolist(), "high": space.high.tolist()})
    raise UsageError(f"datasets hold Box or Discrete spaces, not {type(space).__name__} ({space})",
                     hint="record from an env with a Box observation and a Box or Discrete action space")


def deserialize_space(text: str | dict[str, Any]) -> spaces.Space:
    try:
        data = json.loads(text) if isinstance(text, str) else text
        kind = data["type"]
        if kind == "Discrete":
            return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
        if kind == "Box":
            dtype = np.dtype(data["dtype"])
            low = np.array(data["low"], dtype=dtype).reshape(data["shape"])
            high = np.array(data["high"], dtype=dtype).reshape(data["shape"])
            return spaces.Box(low=low, high=high, shape=tuple(data["shape"]), dtype=dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"unreadable space in dataset metadata: {exc}") from None
    raise DatasetError(f"dataset space of type {kind!r} is not supported (Box and Discrete are)")


def describe_space(space: spaces.Space) -> dict[str, Any]:
    """A short, readable form for manifests and listings."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    return {"type": type(space).__name__, "shape": list(space.shape or ()), "dtype": str(space.dtype)}
