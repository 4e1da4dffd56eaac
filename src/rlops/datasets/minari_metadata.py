"""The ``metadata.json`` Minari reads beside its HDF5 file (keys of Minari 0.5's ``MinariStorage``
and ``MinariDataset``): a dataset id, the counts, the format, the spaces, the env spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym

from rlops.datasets.layout import METADATA, MINARI_VERSION
from rlops.datasets.spaces import serialize_space


def minari_metadata(name: str, env_id: str | None, observation_space: gym.Space, action_space: gym.Space,
                    episodes: int, steps: int, algorithm_name: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dataset_id": name, "total_episodes": int(episodes), "total_steps": int(steps), "data_format": "hdf5",
        "jpeg_encoding": False, "observation_space": serialize_space(observation_space),
        "action_space": serialize_space(action_space), "minari_version": MINARI_VERSION,
        "algorithm_name": algorithm_name, "author": ["rlops"], "author_email": [],
    }
    spec = _env_spec_json(env_id)
    if spec is not None:
        metadata["env_spec"] = spec
    return metadata


def _env_spec_json(env_id: str | None) -> str | None:
    # Minari rebuilds the env from its spec (recover_environment); a 'module:callable' env has none.
    if not env_id or env_id not in gym.registry:
        return None
    try:
        return gym.spec(env_id).to_json()
    except (TypeError, ValueError):  # an entry point or kwargs that do not serialize
        return None


def write_metadata(data_dir: Path, metadata: dict[str, Any]) -> None:
    (data_dir / METADATA).write_text(json.dumps(metadata), encoding="utf-8")


def env_id_of(metadata: dict[str, Any]) -> str | None:
    spec = metadata.get("env_spec")
    if isinstance(spec, str):
        try:
            return json.loads(spec).get("id")
        except (json.JSONDecodeError, AttributeError):
            return None
    return None
