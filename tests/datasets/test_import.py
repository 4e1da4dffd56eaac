"""Importing what other tools wrote: a Minari dataset from Minari's own DataCollector (run in a
process of its own, as a Minari user would), and a file in d3rlpy's MDPDataset layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from rlops.cli.app import main
from rlops.datasets.catalog import DatasetCatalog
from rlops.errors import DatasetError, UsageError

pytest.importorskip("minari")
PROGRAMS = Path(__file__).parent / "programs"


def minari_collected(root: Path, episodes: int = 6) -> tuple[Path, int, int]:
    """A dataset written by minari.DataCollector; its directory, episodes and steps."""
    env = {**os.environ, "MINARI_DATASETS_PATH": str(root)}
    done = subprocess.run([sys.executable, "-W", "ignore::ResourceWarning", str(PROGRAMS / "minari_collect.py"),
                           str(episodes)], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    count, steps = map(int, done.stdout.split()[-2:])
    return root / "cartpole" / "random-v0", count, steps


def test_import_a_dataset_minari_wrote(tmp_path, capsys):
    path, episodes, steps = minari_collected(tmp_path / "minari")
    store = ["--store.model-dir", str(tmp_path / "rlruns"), "--registry.db-path", str(tmp_path / "rlops.db")]
    assert main(["dataset", "import", str(path), "--json", *store]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["name"] == "cartpole-random-v0" and row["env_id"] == "CartPole-v1"
    assert (row["episodes"], row["steps"]) == (episodes, steps) == (6, steps)
    assert row["source"] == {"kind": "import", "format": "minari", "path": str((path / "data").resolve()),
                             "dataset_id": "cartpole/random-v0", "minari_version": "0.5.4"}
    copied = tmp_path / "rlruns" / "datasets" / "cartpole-random-v0" / "data" / "main_data.hdf5"
    assert copied.read_bytes() == (path / "data" / "main_data.hdf5").read_bytes()
    assert main(["dataset", "verify", "cartpole-random-v0", *store]) == 0
    # The data directory itself is accepted too, under another name.
    assert main(["dataset", "import", str(path / "data"), "--name", "again", *store]) == 0


def test_import_refuses_what_is_not_a_dataset(tmp_path):
    catalog = DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlops.db")
    try:
        (tmp_path / "empty").mkdir()
        with pytest.raises(UsageError, match="neither a Minari dataset directory nor a d3rlpy MDPDataset file"):
            catalog.import_path(tmp_path / "empty")
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "metadata.json").write_text(json.dumps({"data_format": "hdf5", "observation_space": "x"}))
        (broken / "main_data.hdf5").write_bytes(b"not hdf5 at all")
        with pytest.raises(DatasetError):
            catalog.import_path(broken)
        assert catalog.list() == []
    finally:
        catalog.close()


def _d3rlpy_file(path: Path, episodes: int = 3, steps: int = 10) -> None:
    """d3rlpy 2.x's ``io.dump`` layout, field for field (columns, num_episodes, <key>_<i>, version)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("columns", data=["observations", "actions", "rewards", "terminated"])
        h5.create_dataset("num_episodes", data=episodes)
        for i in range(episodes):
            h5.create_dataset(f"observations_{i}", data=rng.normal(size=(steps, 4)).astype(np.float32))
            h5.create_dataset(f"actions_{i}", data=rng.integers(0, 2, size=(steps, 1)))
            h5.create_dataset(f"rewards_{i}", data=np.ones((steps, 1), dtype=np.float32))
            h5.create_dataset(f"terminated_{i}", data=i % 2 == 0)
        h5.create_dataset("version", data="2.1")


def test_import_a_d3rlpy_file_needs_and_checks_its_env(tmp_path):
    file = tmp_path / "cartpole.h5"
    _d3rlpy_file(file)
    catalog = DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlops.db")
    try:
        with pytest.raises(UsageError, match="--env"):
            catalog.import_path(file)
        with pytest.raises(UsageError, match=r"observations of shape \[4\] and Pendulum-v1 observes \[3\]"):
            catalog.import_path(file, env_id="Pendulum-v1")
        row = catalog.import_path(file, name="from-d3rlpy", env_id="CartPole-v1")
        assert (row["episodes"], row["steps"], row["returns"]["mean"]) == (3, 30, 10.0)
        minari = pytest.importorskip("minari")
        dataset = minari.MinariDataset(Path(row["path"]) / "data")
        first, second = list(dataset.iterate_episodes())[:2]
        assert first.terminations[-1] and not first.truncations[-1] and second.truncations[-1]
        assert first.observations.shape == (11, 4) and first.actions.dtype == np.int64
    finally:
        catalog.close()
