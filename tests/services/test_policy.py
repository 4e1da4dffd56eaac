"""The served policy acts exactly as SB3's predict() would, with the statistics it was trained with."""

from __future__ import annotations

import numpy as np
import pytest

from rlops.pipeline.loading import load_policy
from rlops.pipeline.sb3.observations import find_normalizer
from rlops.services.policy import ObservationError, ServedPolicy
from tests.helpers import train_tiny


@pytest.mark.parametrize("algorithm, extra", [("ppo", ("--obs.normalize", "obs")), ("sac", ()), ("dqn", ()),
                                               ("a2c", ("--obs.normalize", "all", "--obs.stack-frames", "3"))])
def test_actions_match_sb3_predict(algorithm, extra):
    result = train_tiny(algorithm, *extra, steps=128)
    served = ServedPolicy(result.checkpoint)
    reference = load_policy(result.checkpoint, device="cpu")
    try:
        rng = np.random.default_rng(0)
        raw = rng.normal(size=(64, *served.shape)).astype(np.float32)
        # What SB3 sees: the raw observation through the run's own VecNormalize statistics.
        normalizer = find_normalizer(reference.venv)
        seen = raw
        if normalizer is not None and normalizer.norm_obs:
            frame = normalizer.observation_space.shape[-1]  # stacked frames sit side by side on the last axis
            seen = normalizer.normalize_obs(raw.reshape(-1, frame)).reshape(raw.shape)
        expected, _ = reference.model.predict(seen, deterministic=True)
        actions, batch = served.act(raw)
        assert batch and np.array_equal(actions, expected)
        single, batch = served.act(raw[0])
        assert not batch and np.array_equal(single, expected[0])
    finally:
        reference.close()


def test_bad_observations_name_the_expected_shape():
    served = ServedPolicy(train_tiny("ppo", steps=64).checkpoint)
    for bad in ([1.0, 2.0], [[1, 2, 3, 4, 5]], "left", [[]], [0, 0, 0, float("inf")]):
        with pytest.raises(ObservationError) as caught:
            served.act(bad)
        assert "[4]" in str(caught.value)
