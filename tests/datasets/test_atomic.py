"""A dataset is written whole or not at all: a writer killed mid-write leaves nothing that lists,
and a damaged file gives a clean error naming it rather than a traceback from HDF5."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlops.datasets.catalog import DatasetCatalog
from rlops.datasets.episodes import read_episodes
from rlops.datasets.layout import TEMP_PREFIX
from rlops.errors import DatasetError

pytest.importorskip("h5py")


def test_writer_killed_mid_write_leaves_no_dataset(trained, tmp_path):
    root = tmp_path / "rlruns"
    script = ("import sys\nfrom rlops.cli.app import main\n"
              f"sys.exit(main(['dataset', 'record', {str(trained.checkpoint.path)!r}, '--episodes', '100000', "
              f"'--name', 'killed', '--store.model-dir', {str(root)!r}, '--registry.db-path', "
              f"{str(tmp_path / 'rlops.db')!r}]))\n")
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    temps: list[Path] = []
    while time.monotonic() < deadline and not temps:
        time.sleep(0.2)
        temps = [p for p in (root / "datasets").glob(f"{TEMP_PREFIX}*") if (p / "data" / "main_data.hdf5").exists()]
    assert temps, "the writer never started its data file"
    time.sleep(0.5)  # well into the episodes
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert not (root / "datasets" / "killed").exists()
    catalog = DatasetCatalog(root, tmp_path / "rlops.db")
    try:
        assert catalog.list() == []
        catalog.record(trained.checkpoint, 1, name="after")  # the next writer sweeps the leftovers
        assert [p.name for p in (root / "datasets").iterdir()] == ["after"]
        assert [r["name"] for r in catalog.list()] == ["after"]
    finally:
        catalog.close()


def test_failure_inside_the_write_leaves_nothing(trained, tmp_path, monkeypatch):
    from rlops.datasets import catalog as catalog_module

    def broken(path, episodes):
        path.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(catalog_module, "write_episodes", broken)
    catalog = DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlops.db")
    try:
        with pytest.raises(OSError) as raised:
            catalog.record(trained.checkpoint, 2, name="full")
        assert "while writing dataset" in str(raised.value.__notes__)
        assert list((tmp_path / "rlruns" / "datasets").iterdir()) == [] and catalog.list() == []
    finally:
        catalog.close()


def test_truncated_or_garbage_data_file_is_a_clean_error(trained, tmp_path):
    catalog = DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlops.db")
    try:
        row = catalog.record(trained.checkpoint, 3, name="cut")
        data = Path(row["path"]) / "data" / "main_data.hdf5"
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
        with pytest.raises(DatasetError, match="main_data.hdf5 is not a readable HDF5 file"):
            list(read_episodes(data))
        with pytest.raises(DatasetError, match=r"data/main_data.hdf5 has \d+ bytes, expected \d+"):
            catalog.open("cut")
        (Path(row["path"]) / "manifest.json").write_text("{not json")
        assert "unreadable manifest.json" in catalog.verify("cut")["problems"][0]
    finally:
        catalog.close()
