"""The chart envelope keeps every spike, the ends and the order, within the point budget."""

from __future__ import annotations

import numpy as np
import pytest

from rlops.api.downsample import envelope


def test_a_short_series_comes_back_unchanged():
    steps, values = np.arange(10), np.linspace(0, 1, 10)
    out_steps, out_values = envelope(steps, values, 100)
    assert out_steps is steps and out_values is values


@pytest.mark.parametrize("n, budget", [(1_000, 100), (100_003, 2_000), (1_000_000, 4_000), (7, 4)])
def test_the_envelope_keeps_spikes_ends_and_order_within_budget(n, budget):
    rng = np.random.default_rng(n)
    steps = np.sort(rng.choice(10 * n, size=n, replace=False)).astype(np.int64)
    values = rng.normal(0.0, 1.0, n)
    spikes = rng.choice(np.arange(1, n - 1), size=min(3, n - 2), replace=False)
    values[spikes[0]] = 1e6  # a loss spike: one point among a million
    values[spikes[-1]] = -1e6
    out_steps, out_values = envelope(steps, values, budget)
    assert len(out_steps) <= budget
    assert np.all(np.diff(out_steps) > 0)  # step order, no duplicates
    assert out_steps[0] == steps[0] and out_steps[-1] == steps[-1]
    assert out_values.max() == values.max() and out_values.min() == values.min()
    index = np.searchsorted(steps, out_steps)
    assert np.array_equal(values[index], out_values)  # every point kept is a real point


def test_a_budget_below_four_points_is_refused():
    with pytest.raises(ValueError, match="at least 4"):
        envelope(np.arange(10), np.arange(10.0), 3)
