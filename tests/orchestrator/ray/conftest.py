"""The Ray suite: one real local cluster for the session, inside a loopback-only network namespace.

Ray binds the interface address it finds, even when told 127.0.0.1, so these tests refuse to run
anywhere else: ``tests/orchestrator/test_ray_cluster.py`` (in the default suite) runs them inside
``unshare -n`` with only ``lo`` up. Every test here is marked ``ray``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.orchestrator.ray.cluster import Cluster

HERE = Path(__file__).parent


def loopback_only() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.ray)
            # Ray's own modules warn about their dependencies on import (not ours to fix).
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))
            item.add_marker(pytest.mark.filterwarnings("ignore::FutureWarning"))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    if not loopback_only():
        pytest.exit("the Ray tests run only in a network namespace with nothing but loopback up (Ray would bind "
                    f"{[n for _, n in socket.if_nameindex()]}): "
                    "python -m pytest tests/orchestrator/test_ray_cluster.py",
                    returncode=3)
    nodes = Cluster(tmp_path_factory.mktemp("ray"))
    try:
        nodes.start(workers=2)
        addresses = {entry["NodeManagerAddress"] for entry in nodes.live_nodes()}
        if addresses != {"127.0.0.1"}:
            pytest.exit(f"Ray bound {addresses}, not only 127.0.0.1: the Ray tests stop here", returncode=3)
        yield nodes
    finally:
        nodes.shutdown()
