"""Run records -> OpenTelemetry instruments: reward, episode return and length, losses, entropy, SPS.

``episode`` records feed two histograms (their sum and count are exact, so a dashboard's mean
return matches the log; returns may be negative, see ``return_view``) and a gauge of the mean return of the last ``RECENT`` episodes (SB3's
``ep_rew_mean``): Prometheus's text format leaves out ``_sum`` and ``_count`` of a histogram with
negative buckets, as the return histogram has, so a scrape needs that gauge for the mean return. ``metrics`` records set gauges: each loss the learner reported (any key
whose last part contains ``loss``: ``train/value_loss`` -> ``rl.loss{loss="value_loss"}``), the
policy entropy and the SPS, and, with ``metrics.granularity = "step"``, the per-step reward
statistics of the window. The ``track_*`` options leave an instrument out entirely.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rlops.events.schema import Episode, Metrics, Record
from rlops.options.schema import MetricsOptions

# Symmetric around 0: CartPole's returns are positive, Pendulum's run to -1600.
RETURN_BUCKETS = (-5000, -2500, -1000, -500, -250, -100, -50, -10, 0, 10, 50, 100, 250, 500, 1000, 2500, 5000)
LENGTH_BUCKETS = (1, 5, 10, 25, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
RETURN = "rl.episode.return"
RECENT = 100  # episodes in the rolling mean return, as SB3's ep_rew_mean
REWARD_STATS = {"reward_mean": "rl.reward.mean", "reward_p10": "rl.reward.p10", "reward_p50": "rl.reward.p50",
                "reward_p90": "rl.reward.p90"}


def return_view() -> Any:
    """Episode returns as a histogram that takes any finite value.

    The SDK's Histogram drops every negative measurement (with a warning: the API calls histogram
    values non-negative, as latencies are), so Pendulum's returns, all below 0, were lost. The data
    model has no such limit, so ``rl.episode.return`` is recorded as a gauge (which takes any
    finite value), one ``set`` per episode, and this view aggregates each measurement into the
    explicit buckets: the export is a histogram with exact count, sum, min and max, negatives
    included (an OpenTelemetry View, public API). docs/telemetry.md says the same."""
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

    return View(instrument_name=RETURN, meter_name="rlops",
                aggregation=ExplicitBucketHistogramAggregation(boundaries=RETURN_BUCKETS))


class RunMetrics:
    def __init__(self, meter: Any, options: MetricsOptions) -> None:
        self.options = options
        self.returns = self.lengths = self.entropy = self.sps = self.loss = self.recent_mean = None
        self.recent: deque[float] = deque(maxlen=RECENT)
        self._recent_changed = False
        self.rewards: dict[str, Any] = {}
        if options.track_reward:
            # A gauge that return_view aggregates as a histogram: a Histogram refuses negative values
            self.returns = meter.create_gauge(RETURN, description="undiscounted return of each finished "
                                              "training episode (a histogram: every episode, any finite value)")
            self.recent_mean = meter.create_gauge("rl.episode.return.mean", description=f"mean return of the last "
                                                  f"{RECENT} training episodes")
            if options.granularity == "step":
                self.rewards = {key: meter.create_gauge(name, description=f"{key} of the last metrics window "
                                                        "(per env step)") for key, name in REWARD_STATS.items()}
        self.lengths = meter.create_histogram("rl.episode.length", unit="{step}",
                                              description="length of each finished training episode",
                                              explicit_bucket_boundaries_advisory=LENGTH_BUCKETS)
        if options.track_loss:
            self.loss = meter.create_gauge("rl.loss", description="the learner's losses, by name (attribute loss)")
        if options.track_entropy:
            self.entropy = meter.create_gauge("rl.entropy", description="mean policy entropy of the last window")
        if options.track_fps:
            self.sps = meter.create_gauge("rl.sps", unit="{step}/s", description="env steps per second")

    def record(self, record: Record) -> None:
        if isinstance(record, Episode):
            self._episode(record)
        elif isinstance(record, Metrics):
            self._window(record)

    def end_batch(self) -> None:
        """After each batch of records: the rolling mean return, set once. A gauge exports only its
        last value, so setting it after every episode of the batch exported the same thing."""
        if self._recent_changed:
            self._recent_changed = False
            self.recent_mean.set(sum(self.recent) / len(self.recent))

    def _episode(self, record: Episode) -> None:
        if self.returns is not None:
            self.returns.set(record.episode_return)  # one sample of the histogram (return_view)
            self.recent.append(record.episode_return)
            self._recent_changed = True
        self.lengths.record(record.length)

    def _window(self, record: Metrics) -> None:
        values = record.values
        if self.sps is not None and record.sps > 0:  # 0 is the schema's "not measured"
            self.sps.set(record.sps)
        if self.entropy is not None and _number(values.get("entropy_mean")):
            self.entropy.set(values["entropy_mean"])
        for key, gauge in self.rewards.items():
            if _number(values.get(key)):
                gauge.set(values[key])
        if self.loss is not None:
            for key, value in values.items():
                if "loss" in key.rsplit("/", 1)[-1] and _number(value):
                    self.loss.set(value, {"loss": key.removeprefix("train/")})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
