"""Infer: run a loaded policy episode by episode, yielding each episode as it ends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from rlops.pipeline.loading import LoadedPolicy


@dataclass
class Episode:
    index: int
    reward: float
    length: int
    actions: dict[str, int]  # how often each action was taken (discrete), or summary stats

    def to_dict(self) -> dict:
        return asdict(self)


def run_episodes(loaded: LoadedPolicy, episodes: int, deterministic: bool = True) -> Iterator[Episode]:
    venv = loaded.venv
    obs = venv.reset()
    taken: list[np.ndarray] = []
    done_count = 0
    while done_count < episodes:
        action, _ = loaded.model.predict(obs, deterministic=deterministic)
        taken.append(np.asarray(action[0]))
        obs, _, dones, infos = venv.step(action)
        if dones[0]:
            info = infos[0].get("episode", {})  # Monitor's raw (unnormalized) episode return
            yield Episode(done_count, float(info.get("r", np.nan)), int(info.get("l", len(taken))), _summarize(taken))
            done_count += 1
            taken = []


def _summarize(actions: list[np.ndarray]) -> dict[str, int]:
    if actions and np.asarray(actions[0]).ndim == 0 and np.issubdtype(np.asarray(actions[0]).dtype, np.integer):
        values, counts = np.unique(np.asarray(actions), return_counts=True)
        return {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}
    stacked = np.asarray(actions, dtype=np.float64)
    return {"mean": float(stacked.mean()), "min": float(stacked.min()), "max": float(stacked.max())}  # type: ignore[dict-item]
