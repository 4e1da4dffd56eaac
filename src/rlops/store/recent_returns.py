"""A run's headline return, as W&B and TensorBoard show it: the mean of its last episodes. One raw
episode is noise (a return of 13 beside a best evaluation of 310); a hundred read as the policy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

RECENT_EPISODES = 100  # SB3's rollout/ep_rew_mean window, and what the dashboard labels

_MEAN = "SELECT avg(return), count(*) FROM (SELECT return FROM episodes WHERE run_id = ? ORDER BY seq DESC LIMIT ?)"


def recent_return(connection: sqlite3.Connection, run_id: str, n: int = RECENT_EPISODES) -> tuple[float | None, int]:
    """The mean return of the run's last ``n`` episode records and how many there were (None, 0
    for a run with none). Read through the episodes' primary key: a run of a million episodes
    costs what one of a hundred does."""
    mean, count = connection.execute(_MEAN, (run_id, n)).fetchone()
    return mean, count


def with_recent_returns(connection: sqlite3.Connection, rows: Iterable[dict[str, Any]],
                        n: int = RECENT_EPISODES) -> list[dict[str, Any]]:
    """The runs' rows, each with ``recent_return`` (the mean of its last ``n`` episodes) and
    ``recent_episodes`` (how many that mean is over)."""
    out = []
    for row in rows:
        mean, count = recent_return(connection, row["run_id"], n)
        out.append({**row, "recent_return": mean, "recent_episodes": count})
    return out
