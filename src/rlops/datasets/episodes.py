"""Episodes in Minari's HDF5 file: one group ``episode_<i>`` each, holding ``observations`` (one
more than the steps: the last is where the episode ended), ``actions``, ``rewards``,
``terminations``, ``truncations`` and an ``infos`` group, with ``id`` and ``total_steps`` as
attributes. h5py is the ``offline`` extra, imported only here and only when a file is touched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlops.errors import DatasetError, UsageError

MAIN_FILE = "main_data.hdf5"


@dataclass
class Episode:
    observations: np.ndarray  # (steps + 1, *obs_shape)
    actions: np.ndarray  # (steps, *action_shape)
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    seed: int | None = None

    @property
    def steps(self) -> int:
        return len(self.rewards)

    @property
    def episode_return(self) -> float:
        return float(np.sum(self.rewards))


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise UsageError("datasets need h5py, which this rlops lacks",
                         hint="pip install -c constraints.txt 'rlops[offline]'") from None
    return h5py


def write_episodes(path: Path, episodes: Iterable[Episode]) -> list[tuple[int, float]]:
    """Write every episode to a new HDF5 file, one at a time; returns each one's (steps, return)."""
    h5py = _h5py()
    written = []
    with h5py.File(path, "w", track_order=True) as handle:
        for index, episode in enumerate(episodes):
            group = handle.create_group(f"episode_{index}")
            group.attrs["id"] = index
            group.attrs["total_steps"] = episode.steps
            if episode.seed is not None:
                group.attrs["seed"] = int(episode.seed)
            group.create_dataset("observations", data=episode.observations)
            group.create_dataset("actions", data=episode.actions)
            group.create_dataset("rewards", data=np.asarray(episode.rewards, dtype=np.float64))
            group.create_dataset("terminations", data=np.asarray(episode.terminations, dtype=bool))
            group.create_dataset("truncations", data=np.asarray(episode.truncations, dtype=bool))
            group.create_group("infos")
            written.append((episode.steps, episode.episode_return))
    return written


def read_episodes(path: Path) -> Iterator[Episode]:
    """Episodes in id order; a file that HDF5 cannot read, or an episode missing a field, is a DatasetError."""
    h5py = _h5py()
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"dataset file {path} is not a readable HDF5 file: {exc}",
                           hint="rlops dataset verify names the damaged file; record or import it again") from None
    with handle:
        names = sorted((name for name in handle if name.startswith("episode_")), key=lambda n: int(n.split("_")[1]))
        for name in names:
            group = handle[name]
            try:
                yield Episode(observations=group["observations"][()], actions=group["actions"][()],
                              rewards=group["rewards"][()], terminations=group["terminations"][()],
                              truncations=group["truncations"][()],
                              seed=int(group.attrs["seed"]) if "seed" in group.attrs else None)
            except (KeyError, OSError) as exc:
                raise DatasetError(f"dataset file {path}: {name} is damaged or incomplete ({exc})",
                                   hint="rlops dataset verify names the damaged file; record or import it again") from None


def count_episodes(path: Path) -> tuple[int, int]:
    """(episodes, steps) as the file's own attributes say."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            groups = [handle[name] for name in handle if name.startswith("episode_")]
            return len(groups), sum(int(g.attrs.get("total_steps", len(g["rewards"]))) for g in groups)
    except OSError as exc:
        raise DatasetError(f"dataset file {path} is not a readable HDF5 file: {exc}") from None
