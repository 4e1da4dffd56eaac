"""Reading the two formats ``rlops dataset import`` takes.

- A Minari dataset directory (``metadata.json`` + ``main_data.hdf5``, or the directory above its
  ``data/``): the files are copied as Minari wrote them, after every episode has been read.
- A d3rlpy ``MDPDataset`` file (``dataset.dump(path)``: HDF5 with ``columns``, ``num_episodes``
  and ``observations_<i>``...). It carries no env and no spaces, so ``--env`` names the env; it has
  no observation after the last step either, so the last one is repeated there (only a truncated
  episode would bootstrap from it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlops.datasets.episodes import MAIN_FILE, Episode, _h5py
from rlops.datasets.layout import DATA_DIR, METADATA
from rlops.datasets.minari_metadata import env_id_of
from rlops.datasets.spaces import deserialize_space
from rlops.errors import DatasetError, UsageError
from rlops.pipeline.envs import env_constructor


def minari_data_dir(path: Path) -> Path | None:
    """The directory holding Minari's two files, given it or the dataset directory above it."""
    for candidate in (path, path / DATA_DIR):
        if (candidate / METADATA).is_file():
            return candidate
    return None


def read_minari_metadata(data_dir: Path) -> tuple[dict[str, Any], gym.Space, gym.Space, str | None]:
    try:
        metadata = json.loads((data_dir / METADATA).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{data_dir / METADATA} is not readable JSON: {exc}") from None
    if metadata.get("data_format", "hdf5") != "hdf5":
        raise UsageError(f"{data_dir} is a Minari dataset in format {metadata.get('data_format')!r}",
                         hint="rlops imports Minari's hdf5 format; convert it with minari first")
    if not (data_dir / MAIN_FILE).is_file():
        raise DatasetError(f"{data_dir} has {METADATA} but no {MAIN_FILE}", hint="the dataset is incomplete")
    env_id = env_id_of(metadata)
    if "observation_space" in metadata and "action_space" in metadata:
        observation_space = deserialize_space(metadata["observation_space"])
        action_space = deserialize_space(metadata["action_space"])
    elif env_id:
        env = env_constructor(env_id)()
        observation_space, action_space = env.observation_space, env.action_space
        env.close()
    else:
        raise DatasetError(f"{data_dir / METADATA} names neither the spaces nor an env")
    return metadata, observation_space, action_space, env_id


def is_d3rlpy_file(path: Path) -> bool:
    if not path.is_file():
        return False
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            return "columns" in handle and "num_episodes" in handle
    except OSError:
        return False


def d3rlpy_episodes(path: Path, env_id: str) -> tuple[list[Episode], gym.Space, gym.Space]:
    env = env_constructor(env_id)()
    observation_space, action_space = env.observation_space, env.action_space
    env.close()
    h5py = _h5py()
    episodes = []
    try:
        with h5py.File(path, "r") as handle:
            for i in range(int(handle["num_episodes"][()])):
                observations = handle[f"observations_{i}"][()]
                actions = handle[f"actions_{i}"][()]
                rewards = handle[f"rewards_{i}"][()].reshape(-1)
                terminated = bool(handle[f"terminated_{i}"][()])
                episodes.append(_episode_of(observations, actions, rewards, terminated, action_space))
    except (KeyError, OSError) as exc:
        raise DatasetError(f"{path} is not a readable d3rlpy MDPDataset file: {exc}",
                           hint="write it with d3rlpy's dataset.dump(path)") from None
    _check_shape(episodes, observation_space, path, env_id)
    return episodes, observation_space, action_space


def _episode_of(observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: bool,
                action_space: gym.Space) -> Episode:
    steps = len(rewards)
    if isinstance(action_space, gym.spaces.Discrete):
        actions = actions.reshape(-1).astype(np.int64)
    observations = np.concatenate([observations, observations[-1:]], axis=0)
    terminations = np.zeros(steps, dtype=bool)
    truncations = np.zeros(steps, dtype=bool)
    (terminations if terminated else truncations)[-1] = True
    return Episode(observations, actions, rewards.astype(np.float64), terminations, truncations)


def _check_shape(episodes: list[Episode], observation_space: gym.Space, path: Path, env_id: str) -> None:
    for episode in episodes[:1]:
        if tuple(episode.observations.shape[1:]) != tuple(observation_space.shape):
            raise UsageError(f"{path} holds observations of shape {list(episode.observations.shape[1:])} and "
                             f"{env_id} observes {list(observation_space.shape)}",
                             hint="give the --env the dataset was recorded in")


def iter_checked(episodes: Iterator[Episode], observation_space: gym.Space, where: Path) -> Iterator[Episode]:
    """Episodes whose arrays agree with themselves and with the space; the first that does not is named."""
    for index, episode in enumerate(episodes):
        if len(episode.observations) != episode.steps + 1 or len(episode.actions) != episode.steps:
            raise DatasetError(f"{where}: episode {index} has {len(episode.observations)} observations and "
                               f"{len(episode.actions)} actions for {episode.steps} steps",
                               hint="Minari stores one more observation than steps")
        if tuple(episode.observations.shape[1:]) != tuple(observation_space.shape or ()):
            raise DatasetError(f"{where}: episode {index} observations have shape "
                               f"{list(episode.observations.shape[1:])}, the space says {observation_space}")
        yield episode
