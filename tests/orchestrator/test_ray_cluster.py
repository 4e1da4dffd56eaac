"""The Ray suite (tests/orchestrator/ray/), run from the default test command inside a network
namespace with nothing but loopback up: Ray binds the machine's interface address even when told
127.0.0.1, and the tests' traffic must stay on loopback. Needs root (or CAP_SYS_ADMIN) for
``unshare -n``; where that is refused the test fails, saying so, rather than skipping Ray."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_ray_suite(marker: str, timeout: float) -> None:
    assert shutil.which("unshare") and shutil.which("ip"), "the Ray tests need unshare and ip (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    assert probe.returncode == 0, f"unshare -n is refused here ({probe.stderr.strip()}): run the tests as root"
    command = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider -m '{marker}' "
               "tests/orchestrator/ray")
    result = subprocess.run(["unshare", "-n", "sh", "-c", command], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode in (0, 5), f"the Ray suite failed:\n{result.stdout[-8000:]}\n{result.stderr[-4000:]}"


@pytest.mark.slow  # the whole fast Ray suite on a local cluster: 271 s at load 12
def test_the_ray_suite_passes_in_a_loopback_only_namespace():
    run_ray_suite("ray and not slow", timeout=900)


@pytest.mark.slow
def test_the_slow_ray_suite_passes_in_a_loopback_only_namespace():
    run_ray_suite("ray and slow", timeout=1800)
