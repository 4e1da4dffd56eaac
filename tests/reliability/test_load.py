"""Load cases of SPEC §13 that no other module proves: writers and API readers at once, the WAL
under readers that always overlap, and one run stopped and launched by several processes at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from rlops.api.app import create_app
from rlops.errors import RunStateError
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from rlops.store.ingest import ingest_log
from rlops.store.runs import RunStore
from tests.api.http_helpers import serving
from tests.store.logs import synthetic_log
from tests.store.test_runs import WRITER

ROOT = str(Path(__file__).resolve().parents[2])


def test_writers_and_api_readers_at_once_never_see_a_locked_database(tmp_path):
    db_path = tmp_path / "shared.db"
    RunStore(db_path).close()
    script = WRITER.format(root=ROOT)
    writers = [subprocess.Popen([sys.executable, "-c", script, str(db_path), str(tmp_path / f"run{i}.jsonl")],
                                stderr=subprocess.PIPE, text=True) for i in range(4)]
    answers: list[tuple[int, str]] = []

    def read(client) -> None:
        while any(w.poll() is None for w in writers):
            for run in client.get("/api/runs").json():
                answer = client.get(f"/api/runs/{run['run_id']}/metrics/k0")
                answers.append((answer.status_code, answer.text[:200]))

    with serving(create_app(str(db_path))) as client:
        readers = [threading.Thread(target=read, args=(client,)) for _ in range(2)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(120)
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0, 0], errors
    assert answers and all(status in (200, 404) for status, _ in answers), {a for a in answers if a[0] not in (200, 404)}
    assert not [text for _, text in answers if "locked" in text]
    with RunStore(db_path) as store:
        assert store.integrity_check() == "ok"
        assert all(len(store.metric_series(f"run{i}", "k0")) == 20 * 25 - 1 for i in range(4))


def test_the_wal_stays_bounded_under_overlapping_readers(tmp_path, monkeypatch):
    """Readers that always overlap (a dashboard and its streams) starve SQLite's automatic
    checkpoint: the WAL can only restart when no reader holds an old snapshot. The store must
    still keep it bounded."""
    import rlops.store.db

    monkeypatch.setattr(rlops.store.db, "WAL_RESTART_BYTES", 1 << 20)  # the bound, scaled down with the load
    db_path = tmp_path / "wal.db"
    writer = RunStore(db_path)
    stop = threading.Event()
    largest = [0]

    def read() -> None:
        with RunStore(db_path) as reader:
            while not stop.is_set():
                for run in reader.list_runs():
                    reader.metric_series(run["run_id"], "k0")
                    reader.episodes(run["run_id"], limit=50)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    wal = Path(f"{db_path}-wal")
    try:
        log, offset = tmp_path / "big.jsonl", 0
        for batch in range(150):
            synthetic_log(log, run_id="big", records=200, start_seq=batch * 200)
            offset = ingest_log(writer, log, offset=offset).offset
            largest[0] = max(largest[0], wal.stat().st_size if wal.exists() else 0)
    finally:
        stop.set()
        for reader in readers:
            reader.join(60)
    database = db_path.stat().st_size
    # Starved, the WAL grows with the load (~8 MB at this size, twice that at twice the load); the
    # store restarts it once past its bound, whatever the load.
    assert largest[0] < 3 << 20, (largest[0], database)
    assert writer.integrity_check() == "ok"
    writer.close()


STUBBORN_ONCE = textwrap.dedent("""
    import json, os, signal, sys, time
    with open(os.path.join(os.environ["RLOPS_RUN_DIR"], "pids"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(json.dumps({"type": "episode", "episode_return": 1.0, "length": 1, "env_steps": 1, "episode": 0}), flush=True)
    time.sleep(60)
""")

RACER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from rlops.errors import RunStateError
    from rlops.options import resolve_options
    from rlops.orchestrator.service import TrainerService
    svc = TrainerService(resolve_options(environ={{}}, args=["--orchestrator.max-concurrent", "1",
                                                               "--orchestrator.stop-grace-s", "5"]).options)
    go = float(sys.argv[2])
    while time.time() < go:
        time.sleep(0.001)
    for _ in range(20):
        for run_id in sys.argv[1].split(","):
            try:
                svc.stop(run_id)
            except RunStateError:
                pass
        svc.tick()
    svc.close()
""")


def test_concurrent_stops_and_ticks_of_one_run_leave_one_process_and_a_legal_state(tmp_path):
    program = tmp_path / "stubborn_once.py"
    program.write_text(STUBBORN_ONCE)
    args = ["--orchestrator.max-concurrent", "1", "--orchestrator.stop-grace-s", "5", "--orchestrator.poll-interval",
            "0.1"]
    svc = TrainerService(resolve_options(environ={}, args=args).options)
    runs: list[str] = []
    racers: list[subprocess.Popen] = []
    try:
        blocker = svc.start("command", [sys.executable, str(program)], name="blocker")
        runs.append(blocker)
        target = svc.start("command", [sys.executable, str(program)], name="target")  # queued behind the blocker
        runs.append(target)
        assert svc.store.get_run(target)["status"] == "queued"
        go = time.time() + 1.5  # every racer starts at once: stops, launches and settles collide
        racers = [subprocess.Popen([sys.executable, "-c", RACER.format(root=ROOT), f"{blocker},{target}", str(go)],
                                   stderr=subprocess.PIPE, text=True) for _ in range(4)]
        errors = [r.communicate(timeout=120)[1] for r in racers]
        assert [r.returncode for r in racers] == [0] * 4, errors
        deadline = time.monotonic() + 60
        while any(svc.store.get_run(r)["status"] in ("queued", "running") for r in runs):
            assert time.monotonic() < deadline, [svc.store.get_run(r) for r in runs]
            for run_id in runs:
                _stop_if_live(svc, run_id)
            svc.tick()
            time.sleep(0.1)
        for run_id in runs:
            run = svc.store.get_run(run_id)
            assert run["status"] == "stopped", run
            pids_file = Path(run["run_dir"]) / "pids"
            pids = pids_file.read_text().split() if pids_file.exists() else []
            assert len(pids) <= 1, (run_id, pids)  # never launched twice
            for pid in pids:
                assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid
    finally:  # a failed assertion must not leave racers or the runs' processes behind
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
        for run_id in runs:
            _stop_if_live(svc, run_id)
        svc.close()


def _stop_if_live(svc: TrainerService, run_id: str) -> None:
    """Stop a run that may have ended meanwhile: a run already ended is the one refusal expected."""
    try:
        svc.stop(run_id)
    except RunStateError:
        pass
