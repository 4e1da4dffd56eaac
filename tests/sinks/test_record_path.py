"""A run's records reach the store exactly once, by one route: the log, then one ingest of it
(the record path drawn in ``rlops.sinks``): in-process (``rlops train`` in a terminal),
supervised (the rlops runner under the orchestrator), and a ``command`` program printing the
protocol; and after a kill -9 mid-run, ingesting again gives no duplicates and no gaps."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rlops.events.schema import End, EventError, Metrics, Record, decode
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from rlops.services.training import train
from rlops.store.ingest import ingest_log
from rlops.store.run_dir import EXIT_FILE
from rlops.store.runs import RunStore
from tests.conftest import FIXED_LENGTH
from tests.helpers import tiny_args

PRINTER = Path(__file__).parent / "programs" / "printer.py"
DB = "rlruns/rlops.db"  # store.db_path's default under the test's working directory


def complete_records(log: Path) -> list[Record]:
    """The records of the log's complete lines, as an ingest reads them (a torn last line is not one)."""
    lines = log.read_bytes().split(b"\n")[:-1]
    records = []
    for line in lines:
        try:
            records.append(decode(line))
        except EventError:
            continue
    return records


def assert_stored_once(store: RunStore, run_id: str, logged: list[Record]) -> None:
    """Every record of ``logged`` is in the store once: one row per seq (episodes and events) and
    one point per metrics record (a second ingest would append the points again)."""
    rows = Counter(seq for (seq,) in store.connection.execute(
        "SELECT seq FROM episodes WHERE run_id = ? UNION ALL SELECT seq FROM events WHERE run_id = ?",
        (run_id, run_id)))
    assert max(rows.values()) == 1, [seq for seq, n in rows.items() if n > 1]
    assert sorted(rows) == [r.seq for r in logged if not isinstance(r, Metrics)]  # no gaps
    metrics = [r for r in logged if isinstance(r, Metrics)]
    assert list(store.metric_series(run_id, "wall_time_s").steps) == [r.env_steps for r in metrics]
    assert store.get_run(run_id)["ingested_seq"] == logged[-1].seq
    assert [r.seq for r in logged] == list(range(len(logged)))  # the log itself is numbered gap-free


def test_a_terminal_run_reaches_its_sinks_and_the_store_once_through_its_log(memory_sink):
    args = ["--agent.algorithm", "ppo", "--env.env-id", FIXED_LENGTH, "--env.n-envs", "1",
            "--agent.hyperparams", '{"n_steps": 32, "n_epochs": 1}', "--train.batch-size", "32",
            "--train.total-timesteps", "64", "--env.seed", "1", "--eval.episodes", "2", "--train.device", "cpu",
            "--agent.net-arch", "[8]"]
    result = train(resolve_options(environ={}, args=args).options, progress=False)
    # 64 steps of 8-step episodes: 8 episodes, a metrics record per rollout of 32 steps plus the
    # last window's, the final checkpoint, two evaluation episodes of 8 steps each, the eval, the end.
    assert memory_sink.types() == ["meta", *["episode"] * 8, "metrics", "metrics", "checkpoint",
                                   *["step"] * 16, "eval", "end"]
    logged = complete_records(result.run.events_file)
    assert [(r.seq, r.type) for r in memory_sink.records] == [(r.seq, r.type) for r in logged]
    assert [r.env_steps for r in logged if r.type == "episode"] == [8, 16, 24, 32, 40, 48, 56, 64]
    store = RunStore(DB)
    assert_stored_once(store, result.run.name, logged)
    assert store.get_run(result.run.name)["ingested_bytes"] == result.run.events_file.stat().st_size
    assert "sqlite" not in logged[-1].dropped
    store.close()


def service() -> TrainerService:
    return TrainerService(resolve_options(environ={}, args=["--orchestrator.poll-interval", "0.1"]).options)


def wait_for(condition, timeout: float = 120.0, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def settle(svc: TrainerService, run_id: str, timeout: float = 120.0) -> dict:
    def settled() -> bool:
        svc.tick()
        run = svc.store.get_run(run_id)
        return run["status"] == "lost" or run["exit_code"] is not None
    wait_for(settled, timeout, f"run {run_id} to settle")
    return svc.store.get_run(run_id)


def test_a_command_program_printing_the_protocol_is_ingested_once_by_the_daemon_alone():
    svc = service()
    run_id = svc.start("command", [sys.executable, str(PRINTER), "20", "0"], name="printed")
    run_dir = Path(svc.store.get_run(run_id)["run_dir"])
    wait_for(lambda: (run_dir / EXIT_FILE).exists(), what="the worker's exit")  # no tick meanwhile
    assert svc.store.events(run_id) == [] and svc.store.episodes(run_id) == []  # nobody but the daemon ingests
    run = settle(svc, run_id)
    assert run["status"] == "finished" and run["exit_code"] == 0
    logged = complete_records(run_dir / "train_log.jsonl")
    assert [r.type for r in logged].count("episode") == 20 and isinstance(logged[-1], End)
    assert_stored_once(svc.store, run_id, logged)
    assert list(svc.store.metric_series(run_id, "loss").steps) == [5, 10, 15, 20]
    svc.tick()  # another round (a second daemon, a restarted one) takes nothing twice
    assert ingest_log(svc.store, run_dir / "train_log.jsonl").records == 0
    assert_stored_once(svc.store, run_id, logged)
    svc.close()


def test_a_command_run_killed_mid_run_is_ingested_again_without_duplicates_or_gaps():
    svc = service()
    run_id = svc.start("command", [sys.executable, str(PRINTER), "10000", "0.002"], name="killed")
    run = svc.store.get_run(run_id)
    log = Path(run["log_path"])

    def ingested_some() -> bool:
        svc.tick()
        return svc.store.get_run(run_id)["ingested_seq"] >= 50
    wait_for(ingested_some, what="the first records in the store")
    worker = json.loads((Path(run["run_dir"]) / "worker.json").read_text())["pid"]
    os.killpg(worker, signal.SIGKILL)  # the worker and the program, mid-write
    run = settle(svc, run_id)
    assert run["status"] == "lost"
    logged = complete_records(log)
    assert not isinstance(logged[-1], End) and len(logged) > 50
    assert_stored_once(svc.store, run_id, logged)
    again = ingest_log(svc.store, log, offset=run["ingested_bytes"])
    assert again.records == 0 and ingest_log(svc.store, log).records == 0  # from its offset, or from the start
    assert_stored_once(svc.store, run_id, logged)
    svc.close()


@pytest.mark.slow
def test_a_supervised_rlops_run_is_ingested_by_the_daemon_and_never_by_its_trainer():
    svc = service()
    run_id = svc.start("rlops", tiny_args("ppo"), name="supervised")
    run_dir = Path(svc.store.get_run(run_id)["run_dir"])
    wait_for(lambda: (run_dir / EXIT_FILE).exists(), timeout=300, what="the trainer's exit")
    assert svc.store.events(run_id) == [] and svc.store.episodes(run_id) == []  # its trainer wrote no record
    run = settle(svc, run_id)
    assert run["status"] == "finished" and run["exit_code"] == 0
    logged = complete_records(run_dir / "train_log.jsonl")
    assert_stored_once(svc.store, run_id, logged)
    assert logged[-1].dropped == {}  # no store sink in the trainer, so none to count
    svc.close()


@pytest.mark.slow
def test_a_terminal_run_killed_mid_run_is_ingested_again_without_duplicates_or_gaps():
    log = Path("rlruns/cut/train_log.jsonl")
    trainer = subprocess.Popen([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", steps=200_000),
                                "--store.run-name", "cut"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ingested_some() -> bool:
            if not Path(DB).exists():
                return False
            with RunStore(DB) as store:
                return len(store.episodes("cut")) >= 20  # the run's own sink ingests its log as it goes
        wait_for(ingested_some, timeout=300, what="the run's first episodes in the store")
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
    store = RunStore(DB)
    held = store.get_run("cut")["ingested_seq"]
    logged = complete_records(log)
    assert logged[-1].seq >= held and not isinstance(logged[-1], End)
    ingest_log(store, log, offset=store.get_run("cut")["ingested_bytes"])  # what the kill left unread
    assert_stored_once(store, "cut", logged)
    assert ingest_log(store, log).records == 0  # again from the start: nothing twice
    assert_stored_once(store, "cut", logged)
    store.close()


def test_the_store_is_fed_by_the_one_ingest_of_the_log_and_nothing_else():
    """Read from the code (ast): ``RunStore.ingest`` is called only by ``store/ingest.py``, and its
    ``ingest_log`` only by the two callers the record path names (and ``reindex`` beside it)."""
    src = Path(__file__).resolve().parents[2] / "src" / "rlops"
    callers: dict[str, set[str]] = {"ingest": set(), "ingest_log": set()}
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in callers:
                    callers[name].add(path.relative_to(src).as_posix())
    assert callers["ingest"] == {"store/ingest.py"}
    assert callers["ingest_log"] == {"store/ingest.py", "orchestrator/service.py", "sinks/sqlite.py"}
