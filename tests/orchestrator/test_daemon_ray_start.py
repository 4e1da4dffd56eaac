"""A daemon for Ray runs joins the cluster as it starts (tests/orchestrator/ray/
test_leftover_idle_daemon.py); a cluster that does not answer then is a warning, never the
daemon's end: it supervises on and joins with its first Ray run."""

from __future__ import annotations

import logging
import threading

from rlops.options import resolve_options
from rlops.orchestrator.daemon import supervise
from tests.orchestrator.test_ray_unreachable import closed_port


def test_a_ray_daemon_whose_cluster_does_not_answer_warns_and_supervises_on(caplog):
    address = f"127.0.0.1:{closed_port()}"
    options = resolve_options(environ={}, args=["--orchestrator.backend", "ray", "--ray.address", address,
                                                "--orchestrator.poll-interval", "0.1"]).options
    with caplog.at_level(logging.INFO, logger="rlops.orchestrator.daemon"):
        assert supervise(options, threading.Event(), idle_exit_s=0.3)  # True: it held the lock and ticked
    messages = [record.getMessage() for record in caplog.records if record.name == "rlops.orchestrator.daemon"]
    warned = [m for m in messages if "cannot join the Ray cluster now" in m]
    assert len(warned) == 1 and address in warned[0] and "joins, with its first Ray run" in warned[0], messages
    assert any("nothing queued or running for 0.3 s: exiting" in m for m in messages), messages
