"""The Q-table checkpoint format of custom agent runtimes: hashed, loaded without unpickling. The
example runtime's whole path (trained, registered, served, deployed) is in tests/play/test_qtable_serving.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlops.errors import CheckpointCorruptError
from rlops.pipeline.qtable import TABLE, read_qtable, write_qtable


def test_a_qtable_round_trips_and_a_changed_or_pickled_one_is_refused(tmp_path):
    table = np.arange(16 * 4, dtype=np.float64).reshape(16, 4)
    path = write_qtable(tmp_path / "q", table, "FrozenLake-v1", env_steps=10)
    loaded, manifest = read_qtable(path)
    assert np.array_equal(loaded, table) and manifest["env_id"] == "FrozenLake-v1"
    np.save(path / TABLE, table + 1, allow_pickle=False)
    with pytest.raises(CheckpointCorruptError, match="does not match its hash"):
        read_qtable(path)
    pickled = write_qtable(tmp_path / "p", table, "FrozenLake-v1")
    np.save(pickled / TABLE, np.array([{"code": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((pickled / "manifest.json").read_text())
    import hashlib
    manifest["files"][TABLE]["sha256"] = hashlib.sha256((pickled / TABLE).read_bytes()).hexdigest()
    (pickled / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointCorruptError, match="without unpickling"):
        read_qtable(pickled)


@pytest.mark.parametrize("manifest", ["not json", "[]", '{"format": "rlops-qtable/1", "files": {}}',
                                      '{"format": "rlops-qtable/1", "files": {"q_table.npy": {}}, "n_states": "16"}'])
def test_a_manifest_that_does_not_read_as_one_is_refused_by_name(tmp_path, manifest):
    path = write_qtable(tmp_path / "q", np.zeros((16, 4)), "FrozenLake-v1")
    (path / "manifest.json").write_text(manifest)
    with pytest.raises(CheckpointCorruptError, match="manifest"):
        read_qtable(path)
