"""The transitions of a play session's episodes, kept beside its log so "save as dataset" can hand
them to the offline-RL datasets: step records hold the action, reward and flags but not the
observations, which a dataset needs (one more than steps, as Minari stores them).

    play_episodes/spaces.json   the env's observation and action spaces (Minari's JSON form)
    play_episodes/e0000.npz     observations, actions, rewards, terminations, truncations (plain
                                arrays: read back with allow_pickle=False)

Each file is written under a temporary name and renamed when its episode ends, so a reader never
sees half an episode. An episode the page cut short (the tab closed, the env raised) is kept with
its last step marked truncated: it did not end on its own, and offline RL must not bootstrap it as
a terminal state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from rlops.datasets.episodes import Episode
from rlops.datasets.spaces import deserialize_space, serialize_space
from rlops.errors import UsageError

EPISODES_DIR = "play_episodes"
SPACES = "spaces.json"
FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")


class EpisodeBuffer:
    """One episode's transitions as the session steps; ``save`` writes it when it ends."""

    def __init__(self, directory: Path | None, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.directory = directory
        self.observation_dtype, self.action_dtype = observation_space.dtype, action_space.dtype
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            try:
                text = json.dumps({"observation": json.loads(serialize_space(observation_space)),
                                   "action": json.loads(serialize_space(action_space))})
            except UsageError:  # a space datasets cannot hold (Dict, MultiBinary...): nothing to save later
                self.directory = None
            else:
                (directory / SPACES).write_text(text, encoding="utf-8")
        self.clear(None)

    def clear(self, obs: Any) -> None:
        self.observations = [] if obs is None else [obs]
        self.actions: list[Any] = []
        self.rewards: list[float] = []
        self.terminations: list[bool] = []
        self.truncations: list[bool] = []

    def add(self, action: Any, reward: float, terminated: bool, truncated: bool, obs: Any) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.terminations.append(terminated)
        self.truncations.append(truncated)
        self.observations.append(obs)

    def save(self, episode: int) -> Path | None:
        if self.directory is None or not self.actions:
            return None
        truncations = list(self.truncations)
        if not (self.terminations[-1] or truncations[-1]):
            truncations[-1] = True  # cut short by the page or the env: not a terminal state
        path = self.directory / f"e{episode:04d}.npz"
        temp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(temp, observations=np.asarray(self.observations, dtype=self.observation_dtype),
                 actions=np.asarray(self.actions, dtype=self.action_dtype),
                 rewards=np.asarray(self.rewards, dtype=np.float64),
                 terminations=np.asarray(self.terminations, dtype=bool),
                 truncations=np.asarray(truncations, dtype=bool))
        os.replace(temp, path)
        return path


def read_session_episodes(run_dir: str | Path) -> tuple[list[Episode], spaces.Space, spaces.Space]:
    """Every finished episode a session kept, in order, and its env's spaces; or why there are none."""
    directory = Path(run_dir) / EPISODES_DIR
    if not (directory / SPACES).is_file():
        raise UsageError(f"{run_dir} holds no play episodes to save",
                         hint="save a play session's run (its env's spaces must be Box or Discrete)")
    declared = json.loads((directory / SPACES).read_text(encoding="utf-8"))
    observation_space, action_space = deserialize_space(declared["observation"]), deserialize_space(declared["action"])
    episodes = []
    for path in sorted(directory.glob("e[0-9]*.npz")):
        with np.load(path, allow_pickle=False) as arrays:
            episodes.append(Episode(*(arrays[name] for name in FIELDS)))
    if not episodes:
        raise UsageError("the session has no finished episode yet",
                         hint="play until an episode ends (or close the session: a cut episode is kept), then save")
    return episodes, observation_space, action_space
