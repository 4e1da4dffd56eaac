"""Where the tests find d3rlpy's interpreter: $RLOPS_D3RLPY_PYTHON, else the repository's
.venv-d3rlpy (which .ci/run builds). Absent, it is a failure that says how to build it, not a
skip (as for chromium and Prometheus): the offline runner would go untested."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def d3rlpy_python() -> str:
    given = os.environ.get("RLOPS_D3RLPY_PYTHON")
    candidate = Path(given) if given else REPO / ".venv-d3rlpy" / "bin" / "python"
    if candidate.is_file():
        return str(candidate)
    message = (f"d3rlpy's interpreter is not at {candidate}: build it with `python3 -m venv .venv-d3rlpy && "
               ".venv-d3rlpy/bin/pip install -c constraints.txt d3rlpy h5py` (as .ci/run does), "
               "or point RLOPS_D3RLPY_PYTHON at one")
    pytest.fail(message)
