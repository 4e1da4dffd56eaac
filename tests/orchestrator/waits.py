"""Waiting on what a supervised run's processes do, by condition rather than by sleeping."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def wait_for_json(path: Path, timeout: float = 60) -> Any:
    """The JSON a run's program writes (atomically) to ``path``, once it is there."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    return json.loads(path.read_text())


def living(pid: int) -> bool:
    """The process exists and is not a zombie (a container's init may never reap one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
