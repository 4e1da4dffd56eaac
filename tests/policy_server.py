"""``rlops serve`` as a user runs it, for the tests of every model format it serves (SB3, vector,
Q-table, TorchScript): a real server process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def policy_server(*args: str, cwd: Path | None = None) -> Iterator[str]:
    """``rlops serve --serve.port 0 *args`` in ``cwd``; its base URL once it says it listens. The
    environment is the test's own (the conftest has taken every RL_* and OTEL_* out of it)."""
    process = subprocess.Popen([sys.executable, "-m", "rlops", "serve", "--serve.port", "0", *args], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        assert "serving model" in line, process.stderr.read() if process.poll() is not None else line
        yield line.split(" on ")[-1].strip()
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
