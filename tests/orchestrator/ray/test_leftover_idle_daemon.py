"""A daemon for Ray runs (``orchestrator.backend = "ray"``) joins the cluster as it starts: the
actor a settled run left (its daemon killed between the settle and the end) is ended even though
no live Ray run brings the daemon to the cluster."""

from __future__ import annotations

import subprocess
import sys

from rlops.orchestrator.ray_backend import RayRuns
from rlops.store.run_status import LIVE
from tests.orchestrator.ray.helpers import PROGRAMS, ray_args, ray_service, settle, wait_for
from tests.orchestrator.ray.test_leftover_actor import actor_alive


def test_a_daemon_with_no_live_ray_run_ends_a_settled_runs_left_over_actor(cluster, tmp_path, monkeypatch):
    first = ray_service(cluster, tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(RayRuns, "_end", lambda self, run_id, state: None)  # the daemon dies right after the settle
        run = settle(first, first.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "5"], name="idle"))
    assert run["status"] == "finished" and run["exit_code"] is not None, run
    name = first.ray_runs.state(run["run_id"])["actor"]
    assert actor_alive(name)
    assert not [r for status in LIVE for r in first.store.list_runs(status=status)]  # no Ray work for a daemon
    first.close()
    with open(tmp_path / "daemon.out", "wb") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", *ray_args(cluster, tmp_path)],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        wait_for(lambda: not actor_alive(name) or daemon.poll() is not None, timeout=90,
                 what="the left-over actor ended by the idle daemon")
        assert daemon.poll() is None, (tmp_path / "daemon.out").read_text()  # it supervises on
        assert not actor_alive(name)
    finally:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=30)
    assert daemon.returncode == 0, (tmp_path / "daemon.out").read_text()
