"""SB3's counters that have no public accessor, read in one place.

Checked against stable-baselines3 2.9.2 (the version pyproject's ``>=2.4,<3`` installs with
constraints.txt): every algorithm counts its gradient updates in the private ``_n_updates``
(PPO and A2C per minibatch step, the off-policy ones per gradient step) and logs it as
``train/n_updates``. Should a release rename it, this is the one line to change.
"""

from __future__ import annotations

from typing import Any


def updates_done(model: Any) -> int:
    """The optimizer steps ``model`` has taken (0 before its first update)."""
    return int(getattr(model, "_n_updates", 0))
