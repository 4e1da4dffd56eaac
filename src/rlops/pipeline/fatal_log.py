"""A native crash (a C++ abort in a renderer, a segfault in a physics engine) kills the process
before Python can write an ``error`` or ``end`` record. ``faulthandler`` still writes the signal and
the Python stack to ``<run>/fatal.log`` from inside the dying process; whoever next reads the store
(rlops.services.reconcile) turns such a run into ``failed`` with that reason instead of ``lost``."""

from __future__ import annotations

import faulthandler
from pathlib import Path
from typing import IO

FATAL_LOG = "fatal.log"


class FatalLog:
    """``faulthandler`` pointed at the run's directory while the run trains."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / FATAL_LOG
        self._file: IO[str] | None = None

    def __enter__(self) -> FatalLog:
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - held open for the crash handler
        faulthandler.enable(file=self._file, all_threads=True)
        return self

    def __exit__(self, *exc: object) -> None:
        faulthandler.disable()
        if self._file is not None:
            self._file.close()
        if self.path.is_file() and self.path.stat().st_size == 0:
            self.path.unlink()  # the run ended in Python: nothing to keep


def crash_reason(run_dir: Path) -> str | None:
    """What a run's fatal.log says killed it ("Fatal Python error: Aborted" ...), or None."""
    path = Path(run_dir) / FATAL_LOG
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return None
    lines = [line for line in lines if line]
    if not lines:
        return None
    # With all threads dumped, the crashing one is "Current thread ...": its innermost frame says where.
    start = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), 0)
    frame = next((line for line in lines[start:] if line.startswith("File ")), None)
    where = f" at {frame}" if frame else ""
    return f"native crash: {lines[0]}{where} (the stack is in {FATAL_LOG})"
