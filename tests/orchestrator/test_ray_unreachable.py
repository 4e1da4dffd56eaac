"""A Ray address where nothing listens is refused in seconds, naming the address and what to do,
instead of ``ray.init``'s twenty GCS retries (about 12 minutes) blocking a start meanwhile."""

from __future__ import annotations

import socket
import time

import pytest

from rlops.errors import BackendError
from rlops.options import resolve_options
from rlops.orchestrator.ray_backend import connect


def closed_port() -> int:
    with socket.socket() as probe:  # bound then closed: nothing listens there afterwards
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_an_address_where_nothing_listens_is_refused_at_once(form):
    address = form.format(port=closed_port())
    options = resolve_options(environ={}, args=["--orchestrator.backend", "ray", "--ray.address", address]).options
    started = time.monotonic()
    with pytest.raises(BackendError) as refused:
        connect(options)
    assert time.monotonic() - started < 60  # not Ray's ~12 minutes; the probe itself is a refused connect
    assert f"cannot reach the Ray cluster at ray.address {address!r}" in refused.value.message
    assert "--ray.address HOST:PORT" in refused.value.hint


def test_auto_is_probed_where_ray_address_names_the_cluster(monkeypatch):
    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    options = resolve_options(environ={}, args=["--orchestrator.backend", "ray", "--ray.address", "auto"]).options
    with pytest.raises(BackendError, match="nothing answers on 127.0.0.1"):
        connect(options)
