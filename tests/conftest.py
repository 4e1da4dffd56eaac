"""Shared fixtures: every test runs in its own working directory with no RL_* or OTEL_* variables.

Also the house's two test doubles that are real components, not mocks (STYLE.md, habit 10):

- ``FixedLength-v0``, a tiny deterministic env: every episode lasts exactly ``length`` steps
  (8 unless told) whatever the agent does, so a test can say how many episodes a budget makes;
- ``memory_sink``: a ``MemorySink`` added to the sinks of every run the test trains in-process,
  holding each record the run handed its sinks, in order (OpenTelemetry's ``InMemorySpanExporter``).
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest

from rlops.sinks.memory import MemorySink

FIXED_LENGTH = "FixedLength-v0"


class FixedLengthEnv(gym.Env):
    """Observes the share of the episode left; action 1 pays 1, action 0 pays 0; ends after exactly
    ``length`` steps (terminated, never truncated). No randomness at all."""

    metadata = {"render_modes": []}

    def __init__(self, length: int = 8, render_mode: str | None = None) -> None:
        self.length = length
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.left = length

    def _obs(self) -> np.ndarray:
        return np.array([self.left / self.length], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):  # noqa: ANN201 - gymnasium's
        super().reset(seed=seed)
        self.left = self.length
        return self._obs(), {}

    def step(self, action):  # noqa: ANN001, ANN201 - gymnasium's signature
        self.left -= 1
        return self._obs(), float(action == 1), self.left == 0, False, {}


if FIXED_LENGTH not in gym.registry:
    gym.register(FIXED_LENGTH, entry_point=FixedLengthEnv)


@pytest.fixture
def memory_sink(monkeypatch) -> MemorySink:
    """A MemorySink beside the sinks of every run trained in this test's process."""
    import rlops.services.training as training

    sink = MemorySink()
    build = training.build_sinks

    def with_memory(context, names=None):  # noqa: ANN001, ANN202 - build_sinks' signature
        sinks, unavailable = build(context, names)
        return [*sinks, sink], unavailable

    monkeypatch.setattr(training, "build_sinks", with_memory)
    return sink

from tests.reliability.report import (  # noqa: F401  (pytest hooks: the §13 cases table)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_terminal_summary,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("RL_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
