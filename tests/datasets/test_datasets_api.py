"""The datasets routes on a real server: list with disk use, one with its manifest, verify that
names the changed file, delete, and an offline run refused in pre-flight on a damaged dataset."""

from __future__ import annotations

from pathlib import Path

from rlops.api.app import create_app
from rlops.datasets.catalog import DatasetCatalog
from rlops.options import resolve_options
from tests.api.http_helpers import serving
from tests.datasets.test_import import _d3rlpy_file


def _imported(tmp_path, name: str) -> dict:
    _d3rlpy_file(tmp_path / f"{name}.h5")
    catalog = DatasetCatalog("rlruns", "rlruns/rlops.db")
    try:
        return catalog.import_path(tmp_path / f"{name}.h5", name=name, env_id="CartPole-v1")
    finally:
        catalog.close()


def test_list_show_verify_delete(tmp_path):
    first, second = _imported(tmp_path, "first"), _imported(tmp_path, "second")
    with serving(create_app("rlruns/rlops.db")) as client:
        listed = client.get("/api/datasets").json()
        assert {d["name"] for d in listed["datasets"]} == {"first", "second"}
        assert listed["bytes"] == first["bytes"] + second["bytes"]
        shown = client.get("/api/datasets/first").json()
        assert shown["manifest"]["files"]["data/main_data.hdf5"]["bytes"] > 0 and shown["integrity"] == "ok"
        data = Path(first["path"]) / "data" / "main_data.hdf5"
        data.write_bytes(data.read_bytes() + b"!")
        verified = client.post("/api/datasets/first/verify").json()
        assert verified["integrity"] == "corrupt" and "data/main_data.hdf5 has" in verified["problems"][0]
        assert client.get("/api/datasets").json()["datasets"][-1]["integrity"] in ("ok", "corrupt")
        gone = client.delete("/api/datasets/second")
        assert gone.status_code == 200 and not Path(second["path"]).exists()
        missing = client.get("/api/datasets/second")
        assert missing.status_code == 404 and missing.json()["error"]["message"] == "no dataset 'second'"


def test_training_on_a_damaged_dataset_is_refused_and_starts_nothing(tmp_path):
    row = _imported(tmp_path, "cp")
    data = Path(row["path"]) / "data" / "main_data.hdf5"
    raw = bytearray(data.read_bytes())
    raw[-50] ^= 0xFF
    data.write_bytes(bytes(raw))
    options = resolve_options(environ={}, args=[]).options
    with serving(create_app("rlruns/rlops.db", options)) as client:
        refused = client.post("/api/datasets/cp/train", json={"steps": 10})
        assert refused.status_code == 409
        assert "data/main_data.hdf5 does not match its sha256" in refused.json()["error"]["message"]
        assert client.get("/api/runs").json() == []  # nothing was queued
        bad = client.post("/api/datasets/cp/train", json={"steps": 0})
        assert bad.status_code == 422
    with serving(create_app("rlruns/rlops.db")) as client:  # a read-only server starts nothing
        assert client.post("/api/datasets/cp/train", json={}).status_code == 405


def test_the_page_is_served_and_in_the_nav():
    with serving(create_app("rlruns/rlops.db")) as client:
        assert 'href="#/datasets"' in client.get("/").text
        script = client.get("/static/datasets.js")
        assert script.status_code == 200 and "/api/datasets" in script.text
