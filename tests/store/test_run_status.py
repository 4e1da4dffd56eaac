"""The run statuses are said once (store.run_status); the end record's own list agrees with them."""

from __future__ import annotations

import json

from rlops.events.schema import END_STATUSES
from rlops.store.run_status import ENDED, LIVE, RunStatus
from rlops.store.runs import RunStore


def test_every_status_is_live_or_ended_and_the_end_record_names_only_ended_ones():
    assert set(LIVE) | set(ENDED) == set(RunStatus) and not set(LIVE) & set(ENDED)
    assert set(END_STATUSES) <= set(ENDED) and set(ENDED) - set(END_STATUSES) == {RunStatus.LOST}


def test_a_status_reads_and_stores_as_its_text(tmp_path):
    store = RunStore(tmp_path / "rlops.db")
    store.register_run("r1")
    store.settle("r1", RunStatus.LOST, "gone", None)
    row = store.get_run("r1")
    assert row["status"] == "lost" and row["status"] in ENDED and row["status"] not in LIVE
    assert json.dumps({"status": RunStatus.RUNNING}) == '{"status": "running"}'
    assert store.status_counts() == {"lost": 1}
    store.close()
