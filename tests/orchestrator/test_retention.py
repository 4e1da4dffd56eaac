"""Retention on real runs: four tiny training runs of one agent (CartPole A2C) with fabricated
videos; one holds the production model, one is live. The dry run changes nothing, --apply
deletes exactly what was planned and records it on the runs, and the protected files stay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.events.validate import validate_log
from rlops.options import resolve_options
from rlops.orchestrator.retention import apply, plan
from rlops.store.registry import Registry
from rlops.store.runs import RunStore
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"
LIMITS = ["--orchestrator.max-runs-per-agent", "1", "--orchestrator.max-videos-per-run", "2"]


@pytest.fixture
def runs() -> dict:
    """a (production model), b, c: ended, oldest first; d: live (this process is its process)."""
    results = {name: train_tiny("a2c", "--store.run-name", name, steps=100) for name in "abcd"}
    for name, result in results.items():
        for i in range(4):  # video i is i minutes old: 0 and 1 are the newest
            video = result.run.path / "videos" / name / f"rl-video-episode-{i}.mp4"
            video.parent.mkdir(parents=True, exist_ok=True)
            video.write_bytes(b"\0" * (1000 + i))
            os.utime(video, (time.time() - 60 * i,) * 2)
    registry = Registry(DB)
    registry.promote(results["a"].model_id, "production")
    registry.close()
    store = RunStore(DB)
    store.settle("d", "running")
    store.register_run("d", pid=os.getpid())
    store.close()
    return results


def snapshot(root: Path = Path("rlruns")) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith("rlops.db")}


def gc(capsys, *args: str) -> tuple[int, dict]:
    code = main(["gc", "--json", *LIMITS, *args])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def records_in_log(run: str) -> int:
    """The last seq of a run's log: what the store's watermark must still be after a prune."""
    lines = Path(f"rlruns/{run}/train_log.jsonl").read_text(encoding="utf-8").splitlines()
    return json.loads(lines[-1])["seq"]


def test_dry_run_changes_nothing_and_apply_deletes_exactly_the_plan(runs, capsys):
    before = snapshot()
    code, dry = gc(capsys)
    assert code == 0 and dry["applied"] is False and snapshot() == before
    planned = {(p["run_id"], p["path"]) for p in dry["prune"]}
    assert planned == {("b", "."), *{(run, f"videos/{run}/rl-video-episode-{i}.mp4") for run in "ac" for i in (2, 3)}}
    assert {(p["run_id"], p["kind"]) for p in dry["kept"]} == {("a", "run")}
    assert "production" in dry["kept"][0]["kept_because"]
    b_files = {path for path in before if path.startswith("rlruns/b/")}
    assert dry["freed_bytes"] == sum(before[path][0] for path in b_files) + 2 * (1002 + 1003)

    code, applied = gc(capsys, "--apply")
    assert code == 0 and applied["applied"] is True and applied["prune"] == [{**p, "done": True} for p in dry["prune"]]
    after = snapshot()
    videos = {f"rlruns/{run}/videos/{run}/rl-video-episode-{i}.mp4" for run in "ac" for i in (2, 3)}
    assert set(before) - set(after) == b_files | videos and set(after) <= set(before)
    assert not Path("rlruns/b").exists()
    # Protected: the production model's checkpoint (its run is old) and the live run, whole.
    assert Path(runs["a"].checkpoint.path, "manifest.json").is_file()
    assert {p for p in before if p.startswith("rlruns/d/")} <= set(after)

    store, registry = RunStore(DB), Registry(DB)
    try:
        b = store.get_run("b")
        assert b["status"] == "finished" and {"kind": "other", "path": ".", "action": "pruned"}.items() <= \
            b["artifacts"][-1].items()
        pruned_c = [a["path"] for a in store.get_run("c")["artifacts"] if a["action"] == "pruned"]
        assert sorted(pruned_c) == [f"videos/c/rl-video-episode-{i}.mp4" for i in (2, 3)]
        assert store.events("c", types=["artifact"]) == []  # the manifest only: the log's seqs stay the log's
        assert store.get_run("c")["ingested_seq"] == records_in_log("c")
        assert registry.list(run_id="b") == []  # its checkpoints are gone, so are their rows
        assert registry.get(runs["a"].model_id)["deployment_status"] == "production"
        assert store.get_run("d")["artifacts"] == [] and store.get_run("d")["status"] == "running"
    finally:
        store.close()
        registry.close()
    assert validate_log("rlruns/c/train_log.jsonl").ok  # nothing was appended after its end record

    code, again = gc(capsys, "--apply")
    assert code == 0 and again["prune"] == []  # done: a second pass finds nothing
    assert main(["gc", "--status", "--json", *LIMITS]) == 0
    usage = {run["run_id"]: run for run in json.loads(capsys.readouterr()[0])["runs"]}
    assert usage["c"]["videos"] == "2/4 videos retained" and usage["d"]["videos"] == "4/4 videos retained"
    assert usage["b"]["bytes"] == 0 and usage["c"]["bytes"] > 0


def test_age_rule_and_the_checks_made_again_at_apply(runs, capsys):
    options = resolve_options(environ={}, args=["--orchestrator.max-age-days", "1"]).options
    store, registry = RunStore(DB), Registry(DB)
    try:
        assert plan(store, registry, options) == []  # nothing is a day old yet
        prunes = plan(store, registry, options, now=time.time() + 2 * 86400)
        assert {(p.run_id, p.kept_because is None) for p in prunes} == {("a", False), ("b", True), ("c", True)}
        # Between plan and apply, c is resumed and b's log grows past what the store has read.
        store.settle("c", "running")
        store.register_run("c", pid=os.getpid())
        with open("rlruns/b/train_log.jsonl", "a", encoding="utf-8") as log:
            trace = store.get_run("b")["trace_id"]
            log.write(json.dumps({"v": 1, "type": "artifact", "run_id": "b", "trace_id": trace, "t": time.time(),
                                  "seq": store.get_run("b")["ingested_seq"] + 1, "kind": "plot",
                                  "path": "plot.png"}) + "\n")
        before = snapshot()
        results = apply(prunes, store, registry)
    finally:
        store.close()
        registry.close()
    assert snapshot() == before
    assert {p.run_id: (p.done, p.kept_because.split(":")[0].split(";")[0]) for p in results} == {
        "a": (False, f"holds model {runs['a'].model_id} (production model)"),
        "b": (False, "its log has records the run store has not read yet"),
        "c": (False, "run c is running")}


def test_gc_without_limits_is_a_usage_error(capsys):
    assert main(["gc"]) == 2
    assert "max-videos-per-run" in capsys.readouterr()[1]
