"""The chart series a record feeds, one mapping for every tracking backend (TensorBoard, MLflow,
W&B), so the three show the same names: a ``metrics`` record's ``opt_steps``, ``wall_time_s``,
``sps`` and each of its values (a list such as ``action_hist`` is a histogram's counts);
``episode/return`` and ``episode/length``; ``eval/mean_reward``, ``eval/std_reward`` and
``eval/mean_length``. All at step ``env_steps``.
"""

from __future__ import annotations

from rlops.events.schema import Episode, Eval, Metrics, Record


def series_of(record: Record) -> dict[str, float | int | list[int]] | None:
    """name: value of each series point a record makes, or None for the types charts have no use for."""
    if isinstance(record, Metrics):
        return {"opt_steps": record.opt_steps, "wall_time_s": record.wall_time_s, "sps": record.sps, **record.values}
    if isinstance(record, Episode):
        return {"episode/return": record.episode_return, "episode/length": record.length}
    if isinstance(record, Eval):
        return {"eval/mean_reward": record.mean_reward, "eval/std_reward": record.std_reward,
                "eval/mean_length": record.mean_length}
    return None
