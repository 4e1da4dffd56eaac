"""Retention counts datasets (issue 14.4): GET /api/retention lists each dataset's bytes on disk
now (measured, not the manifest's sum) and their total beside the runs' own."""

from __future__ import annotations

import os
from pathlib import Path

from rlops.api.app import create_app
from tests.api.http_helpers import serving
from tests.datasets.test_datasets_api import _imported


def _on_disk(root: Path) -> int:
    return sum(os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(root) for f in files)


def test_retention_counts_each_dataset_on_disk(tmp_path):
    first, second = _imported(tmp_path, "first"), _imported(tmp_path, "second")
    extra = Path(second["path"]) / "notes.txt"  # bytes the manifest does not know of still use the disk
    extra.write_text("x" * 1000)
    with serving(create_app("rlruns/rlops.db")) as client:
        answer = client.get("/api/retention").json()
    sizes = {row["name"]: row["bytes"] for row in answer["datasets"]}
    assert sizes == {"first": _on_disk(Path(first["path"])), "second": _on_disk(Path(second["path"]))}
    assert sizes["second"] >= second["bytes"] + 1000
    assert answer["datasets_bytes"] == sum(sizes.values())
    assert {row["env_id"] for row in answer["datasets"]} == {"CartPole-v1"}


def test_no_datasets_no_rows(tmp_path):
    with serving(create_app("rlruns/rlops.db")) as client:
        answer = client.get("/api/retention").json()
    assert answer["datasets"] == [] and answer["datasets_bytes"] == 0
