"""The transitions a play session keeps for "save as dataset": written per episode beside the log,
read back without unpickling, a cut episode marked truncated, and a run that is not a play
session refused."""

from __future__ import annotations

import gymnasium as gym
import pytest

from rlops.errors import UsageError
from rlops.play.dataset import save_session_dataset
from rlops.play.episode_files import EPISODES_DIR, EpisodeBuffer, read_session_episodes


def test_episodes_round_trip_and_a_cut_one_is_truncated_not_terminal(tmp_path):
    env = gym.make("FrozenLake-v1", is_slippery=False)
    buffer = EpisodeBuffer(tmp_path / EPISODES_DIR, env.observation_space, env.action_space)
    with pytest.raises(UsageError, match="no finished episode"):
        read_session_episodes(tmp_path)
    obs, _ = env.reset(seed=0)
    buffer.clear(obs)
    for action in (1, 1, 2, 2, 1, 2):  # down, down, right, right, down, right: the goal
        obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(action, float(reward), terminated, truncated, obs)
    assert terminated
    buffer.save(0)
    buffer.clear(env.reset()[0])
    obs, reward, terminated, truncated, _ = env.step(2)
    buffer.add(2, float(reward), terminated, truncated, obs)
    buffer.save(1)  # the page went after one step

    episodes, observation_space, action_space = read_session_episodes(tmp_path)
    assert observation_space == env.observation_space and action_space == env.action_space
    first, cut = episodes
    assert first.actions.tolist() == [1, 1, 2, 2, 1, 2] and first.observations.tolist() == [0, 4, 8, 9, 10, 14, 15]
    assert first.rewards.tolist()[-1] == 1.0 and first.terminations[-1] and not first.truncations.any()
    assert cut.observations.tolist() == [0, 1] and cut.truncations.tolist() == [True] and not cut.terminations.any()
    assert not list((tmp_path / EPISODES_DIR).glob(".*"))  # no temporary file left behind


def test_a_space_datasets_cannot_hold_keeps_nothing_and_says_so(tmp_path):
    env = gym.make("Blackjack-v1")  # Tuple observations
    buffer = EpisodeBuffer(tmp_path / EPISODES_DIR, env.observation_space, env.action_space)
    buffer.clear(env.reset(seed=0)[0])
    buffer.add(0, 0.0, True, False, env.step(0)[0])
    assert buffer.save(0) is None
    with pytest.raises(UsageError, match="no play episodes") as refused:
        read_session_episodes(tmp_path)
    assert "Box or Discrete" in refused.value.hint


def test_a_run_that_is_not_a_play_session_is_refused(tmp_path):
    with pytest.raises(UsageError, match="is a rlops run, not a play session"):
        save_session_dataset({"run_id": "trained", "runner": "rlops", "run_dir": str(tmp_path)}, tmp_path,
                             tmp_path / "db")
