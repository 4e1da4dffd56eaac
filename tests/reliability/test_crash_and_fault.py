"""Crash cases of SPEC §13 that no other module proves: a reindex SIGKILLed mid-ingest and run
again leaves every point in the store exactly once, and the database intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlops.store.runs import RunStore
from tests.store.logs import synthetic_log

RECORDS = 60_000


def test_a_reindex_killed_mid_ingest_and_run_again_holds_every_point_once():
    logs = []
    for i in range(3):
        run_dir = Path(f"rlruns/run{i}")
        run_dir.mkdir(parents=True)
        logs.append(synthetic_log(run_dir / "train_log.jsonl", run_id=f"run{i}", records=RECORDS, keys=5))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    killed = 0
    for delay in (0.4, 0.8, 1.2, 1.6):  # mid-transaction, at different points of the ingest
        reindex = subprocess.Popen([sys.executable, "-m", "rlops", "runs", "reindex", "--json"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        if reindex.poll() is None:
            reindex.send_signal(signal.SIGKILL)
            killed += 1
        reindex.communicate()
    done = subprocess.run([sys.executable, "-m", "rlops", "runs", "reindex", "--json"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert killed, "every reindex finished before its kill: the test proved nothing"
    assert sorted(entry["run"] for entry in json.loads(done.stdout)) == ["run0", "run1", "run2"]
    with RunStore("rlruns/rlops.db") as store:
        assert store.integrity_check() == "ok"
        for i in range(3):
            run = store.get_run(f"run{i}")
            assert run["ingested_seq"] == RECORDS - 1
            for key in range(5):
                assert len(store.metric_series(f"run{i}", f"k{key}")) == RECORDS - 1  # seq 0 is the meta
