"""The prune ledger and model leases on a real database: the intent hides a run's models at once,
a lease in force stops the intent, a void one does not, and the completion records once."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from rlops.events.schema import Artifact
from rlops.store.prunes import begin_prune, finish_prune, pending_prunes
from rlops.store.registry import ModelNotFoundError, Registry
from rlops.store.runs import RunStore


@pytest.fixture
def db(tmp_path) -> tuple[RunStore, Registry, Path, dict[str, int]]:
    """Run r1 in tmp/runs/r1 with two checkpoints registered, and a model of another run elsewhere."""
    store, registry = RunStore(tmp_path / "rlops.db"), Registry(tmp_path / "rlops.db")
    run_dir = (tmp_path / "runs" / "r1").resolve()
    store.register_run("r1", run_dir=run_dir)
    ids = {name: registry.add(run_dir / "checkpoints" / name, "ppo", "CartPole-v1", run_id="r1")
           for name in ("step-1", "step-2")}
    ids["other"] = registry.add(tmp_path / "runs" / "r10" / "checkpoints" / "step-1", "ppo", "CartPole-v1", run_id="r10")
    registry.promote(ids["other"], "staging")
    yield store, registry, run_dir, ids
    registry.close()
    store.close()


def pruned_record() -> Artifact:
    return Artifact(run_id="r1", trace_id="0" * 32, t=time.time(), kind="other", path=".", action="pruned")


def test_the_intent_hides_the_models_at_once_and_the_completion_deletes_them(db):
    store, registry, run_dir, ids = db
    assert begin_prune(store, "r1", run_dir) is None
    assert pending_prunes(store) == ["r1"] and store.get_run("r1")["pruned"] == "pruning"
    assert [m["id"] for m in registry.list()] == [ids["other"]]  # r10's directory is not r1's
    assert registry.newest_of_run("r1") is None and registry.by_path(run_dir / "checkpoints" / "step-1") is None
    with pytest.raises(ModelNotFoundError, match="being deleted with the directory of run r1"):
        registry.promote(ids["step-1"], "production")
    assert sorted(finish_prune(store, "r1", [pruned_record()])) == [ids["step-1"], ids["step-2"]]
    assert finish_prune(store, "r1", [pruned_record()]) == []  # a second janitor's finish changes nothing
    run = store.get_run("r1")
    assert run["pruned"] == "pruned" and [a["path"] for a in run["artifacts"]] == ["."]
    assert pending_prunes(store) == []
    with pytest.raises(ModelNotFoundError, match=f"no model with id {ids['step-1']}"):
        registry.get(ids["step-1"])


def test_a_lease_in_force_stops_the_intent_and_writes_nothing(db):
    store, registry, run_dir, ids = db
    lease = registry.hold(ids["step-2"], "rlops eval")
    refusal = begin_prune(store, "r1", run_dir)
    assert refusal is not None and refusal.startswith(f"holds model {ids['step-2']} (held by rlops eval, pid ")
    assert pending_prunes(store) == [] and len(registry.list(run_id="r1")) == 2
    registry.release(lease)
    assert registry.holders() == {} and begin_prune(store, "r1", run_dir) is None


def test_void_leases_hold_nothing(db):
    store, registry, run_dir, ids = db
    gone = subprocess.Popen(["true"])
    gone.wait()
    now = time.time()
    store.connection.execute("INSERT INTO model_leases (model_id, holder, host, pid, expires) VALUES "
                             "(?, 'rlops eval', ?, ?, ?), (?, 'rlops eval', 'elsewhere', 1, ?)",
                             (ids["step-1"], socket.gethostname(), gone.pid, now + 3600,
                              ids["step-2"], now - 1))
    assert registry.holders() == {}  # a dead process of this host; an expired lease of another host
    store.connection.execute("UPDATE model_leases SET expires = ? WHERE host = 'elsewhere'", (now + 3600,))
    assert registry.holders() == {ids["step-2"]: "held by rlops eval, pid 1 on elsewhere"}


def test_a_model_being_pruned_cannot_be_held(db):
    store, registry, run_dir, ids = db
    assert begin_prune(store, "r1", run_dir) is None
    with pytest.raises(ModelNotFoundError, match="being deleted"):
        registry.hold(ids["step-1"], "rlops eval")
