"""Recording a dataset from a trained policy: Minari reads what rlops wrote, verify rehashes and
names the file that changed, the CLI says so with its exit code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlops.cli.app import main
from rlops.datasets.catalog import DatasetCatalog
from rlops.errors import DatasetError, UsageError

minari = pytest.importorskip("minari")


def _catalog(tmp_path):
    return DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlruns" / "rlops.db")


def test_record_50_episodes_minari_loads_same_counts_and_verify_passes(trained, tmp_path):
    catalog = _catalog(tmp_path)
    try:
        row = catalog.record(trained.checkpoint, 50, epsilon=0.1, name="cartpole-50")
        assert row["episodes"] == 50 and row["env_id"] == "CartPole-v1" and row["integrity"] == "ok"
        assert row["source"]["kind"] == "record" and row["source"]["checkpoint_sha256"] == trained.checkpoint.sha256
        dataset = minari.MinariDataset(tmp_path / "rlruns" / "datasets" / "cartpole-50" / "data")
        assert dataset.total_episodes == 50 and dataset.total_steps == row["steps"]
        episodes = list(dataset.iterate_episodes())
        assert sum(len(e) for e in episodes) == row["steps"]
        assert all(e.observations.shape == (len(e) + 1, 4) for e in episodes)
        assert np.isclose(np.mean([e.rewards.sum() for e in episodes]), row["returns"]["mean"])
        assert all(e.terminations[-1] or e.truncations[-1] for e in episodes)
        assert str(dataset.action_space) == "Discrete(2)"
        assert catalog.verify("cartpole-50")["problems"] == []
        manifest = catalog.show("cartpole-50")["manifest"]
        assert set(manifest["files"]) == {"data/main_data.hdf5", "data/metadata.json"}
        assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"].values())
    finally:
        catalog.close()


def test_minari_load_dataset_finds_it_by_name(trained, tmp_path, monkeypatch):
    catalog = _catalog(tmp_path)
    try:
        row = catalog.record(trained.checkpoint, 3, name="by-name")
    finally:
        catalog.close()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "rlruns" / "datasets"))
    dataset = minari.load_dataset("by-name")
    assert (dataset.total_episodes, dataset.total_steps) == (3, row["steps"])
    assert dataset.recover_environment().spec.id == "CartPole-v1"


def test_one_flipped_byte_fails_verify_and_open_naming_the_file(trained, tmp_path):
    catalog = _catalog(tmp_path)
    try:
        row = catalog.record(trained.checkpoint, 4, name="flip")
        data = tmp_path / "rlruns" / "datasets" / "flip" / "data" / "main_data.hdf5"
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        data.write_bytes(bytes(raw))
        verified = catalog.verify("flip")
        assert verified["integrity"] == "corrupt"
        assert verified["problems"] == ["data/main_data.hdf5 does not match its sha256"]
        with pytest.raises(DatasetError, match="main_data.hdf5 does not match its sha256"):
            catalog.open("flip")
        assert catalog.require("flip")["integrity"] == "corrupt" and row["integrity"] == "ok"
    finally:
        catalog.close()


def test_cli_record_list_verify_rm(trained, tmp_path, capsys):
    store = ["--store.model-dir", str(tmp_path / "rlruns"), "--registry.db-path", str(tmp_path / "rlops.db")]
    assert main(["dataset", "record", str(trained.checkpoint.path), "--episodes", "3", "--name", "cli", "--json",
                 *store]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["name"] == "cli" and recorded["episodes"] == 3
    assert main(["dataset", "list", "--json", *store]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["cli"]
    assert main(["dataset", "verify", "cli", *store]) == 0
    assert "cli: ok" in capsys.readouterr().out
    (tmp_path / "rlruns" / "datasets" / "cli" / "data" / "metadata.json").write_text("{}")
    assert main(["dataset", "verify", "cli", *store]) == 1
    assert "data/metadata.json has 2 bytes" in capsys.readouterr().out
    assert main(["dataset", "rm", "cli", *store]) == 0
    assert not (tmp_path / "rlruns" / "datasets" / "cli").exists()
    assert main(["dataset", "show", "cli", *store]) == 2
    assert "no dataset 'cli'" in capsys.readouterr().err


def test_record_from_registry_model_id(trained, tmp_path, capsys):
    store = ["--store.model-dir", str(tmp_path / "rlruns"), "--registry.db-path", str(trained.run.path.parent.parent /
                                                                                      "rlops.db")]
    assert main(["dataset", "record", "--model", str(trained.model_id), "--episodes", "2", "--name", "by-id",
                 "--json", *store]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["source"]["model_id"] == trained.model_id and row["source"]["run_id"] == trained.run.name


def test_bad_requests_are_named(trained, tmp_path):
    catalog = _catalog(tmp_path)
    try:
        with pytest.raises(UsageError, match="bad dataset name"):
            catalog.record(trained.checkpoint, 1, name="../escape")
        with pytest.raises(UsageError, match="not a probability"):
            catalog.record(trained.checkpoint, 1, epsilon=1.5)
        catalog.record(trained.checkpoint, 1, name="twice")
        with pytest.raises(UsageError, match="already exists"):
            catalog.record(trained.checkpoint, 1, name="twice")
    finally:
        catalog.close()
