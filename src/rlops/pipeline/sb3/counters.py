"""SB3's counters that have no public accessor, read in one place.

Checked against stable-baselines3 2.9.2 (what pyproject's ``>=2.4,<3`` installs today;
constraints.txt pins only torch): every algorithm counts its updates in the private
``_n_updates`` (PPO once per epoch, A2C once per update, the off-policy ones once per gradient
step) and logs it as ``train/n_updates``. Should a release rename it, this is the line to change.
"""

from __future__ import annotations

from typing import Any


def updates_done(model: Any) -> int:
    """The optimizer steps ``model`` has taken (0 before its first update)."""
    return int(getattr(model, "_n_updates", 0))
