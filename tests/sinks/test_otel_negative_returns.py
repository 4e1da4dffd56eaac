"""Negative episode returns reach OpenTelemetry (issue 19, item 2).

SAC on Pendulum-v1 printed "Record amount must be non-negative on Histogram rl.episode.return"
and ``otel/metrics.jsonl`` had no return at all: the SDK's Histogram drops negative values. The
return is now a gauge aggregated by a View into the same explicit buckets, exported as a
histogram that takes any finite value.
"""

from __future__ import annotations

import logging

import pytest

from rlops.events.reader import read_records
from rlops.events.schema import Episode
from rlops.options import resolve_options
from rlops.sinks.otel import OtelSink
from rlops.sinks.recorder import new_trace_id
from tests.helpers import train_tiny
from tests.sinks import otel_files
from tests.sinks.test_otel import last_points


def histogram_of(path):
    """The newest rl.episode.return point of the file export, with its buckets."""
    import json

    newest = None
    for line in path.read_text(encoding="utf-8").splitlines():
        for resource in json.loads(line)["resource_metrics"]:
            for scope in resource["scope_metrics"]:
                for metric in scope["metrics"]:
                    if metric["name"] == "rl.episode.return":
                        newest = metric["data"]["data_points"][-1]
    return newest


def test_returns_of_any_sign_are_in_the_histogram_exactly(tmp_path, caplog):
    options = resolve_options(environ={}, args=["--logs.enable", "false", "--traces.enable", "false"]).options
    sink = OtelSink(options, tmp_path, "negative", new_trace_id())
    returns = [-1612.25, -0.5, 0.0, 3.0, 731.5]
    with caplog.at_level(logging.WARNING):
        sink.export([Episode(seq=i, t=1000.0 + i, episode_return=value, length=200, env_steps=200 * (i + 1))
                     for i, value in enumerate(returns)])
        sink.flush()
        sink.shutdown()
    point = histogram_of(tmp_path / "otel" / "metrics.jsonl")
    assert point["count"] == len(returns) and point["sum"] == pytest.approx(sum(returns))
    assert (point["min"], point["max"]) == (min(returns), max(returns))
    bounds, counts = point["explicit_bounds"], point["bucket_counts"]
    assert [sum(1 for v in returns if lower < v <= upper) for lower, upper in
            zip([float("-inf"), *bounds], [*bounds, float("inf")], strict=True)] == counts
    assert not [r for r in caplog.records if "non-negative" in r.getMessage()]


@pytest.mark.slow  # minutes on a loaded 2-core machine
def test_pendulum_returns_below_zero_are_in_the_otel_histogram(caplog):
    with caplog.at_level(logging.WARNING):
        result = train_tiny("sac", steps=400)  # two 200-step episodes, every return around -1000
    episodes = [r for _, r in read_records(result.run.events_file) if isinstance(r, Episode)]
    assert len(episodes) == 2 and all(e.episode_return < 0 for e in episodes)
    metrics = result.run.path / "otel" / "metrics.jsonl"
    returns = last_points(otel_files.points(metrics))[("rl.episode.return", ())]
    assert returns["count"] == len(episodes)
    assert returns["sum"] == pytest.approx(sum(e.episode_return for e in episodes))
    point = histogram_of(metrics)
    assert point["min"] == pytest.approx(min(e.episode_return for e in episodes))
    assert point["max"] == pytest.approx(max(e.episode_return for e in episodes))
    assert point["explicit_bounds"][0] < -1000 and sum(point["bucket_counts"]) == len(episodes)
    assert not [r for r in caplog.records if "non-negative" in r.getMessage()]
