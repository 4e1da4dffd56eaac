"""``rlops registry verify`` of models on S3 (a remote run's rows, moto on loopback): each is fetched
from the store again and every hash checked, whether or not a copy is here, and reported per row;
an object altered or missing on the store is named, a store that does not answer is "not checked",
and a copy here that was damaged is replaced by the verified one."""

from __future__ import annotations

import json

from rlops.cli.app import main
from rlops.services.model_fetch import fetch_model, local_copy
from rlops.services.registry_ops import verify
from rlops.services.remote_models import RemoteRunModels
from rlops.store.registry import Registry
from tests.services.test_remote_models import RUN, ingested, node_run, rows
from tests.sinks import test_s3
from tests.sinks.test_s3 import BUCKET

server, s3 = test_s3.server, test_s3.s3  # the moto server on loopback and its bucket, as the S3 sink's tests start them


def url(steps: int) -> str:
    return f"s3://{BUCKET}/runs/{RUN}/checkpoints/step-{steps:012d}"


def registered(tmp_path, server) -> dict[str, dict]:
    """A remote run's three models on S3 in the daemon's registry (step 100, 200, 300)."""
    log, _, _ = node_run(tmp_path, server)
    store = ingested(tmp_path, log)
    RemoteRunModels(store, tmp_path / "rlops.db").take(RUN)
    store.close()
    return rows(tmp_path)


def cli_verify(capsys, tmp_path, *args: str) -> tuple[int, str]:
    code = main(["registry", "verify", *args, "--store.db-path", str(tmp_path / "rlops.db")])
    return code, capsys.readouterr()[0]


def test_verify_fetches_each_model_on_s3_and_names_what_the_store_altered(tmp_path, s3, server, capsys):
    models = registered(tmp_path, server)
    code, out = cli_verify(capsys, tmp_path)
    assert code == 0
    ids = sorted(row["id"] for row in models.values())
    assert sorted(out.splitlines()) == [f"model {i}: ok (fetched from the store, every hash verified)" for i in ids]
    registry = Registry(tmp_path / "rlops.db")
    try:
        copies = {u: local_copy(registry, row) for u, row in models.items()}
        assert all(copy.is_dir() for copy in copies.values())  # each verified copy is the one a load uses
        # altered on the store after its copy came: verify checks the store, not the copy here
        s3.put_object(Bucket=BUCKET, Key=f"runs/{RUN}/checkpoints/step-000000000200/weights.bin", Body=b"x" * 64)
        s3.delete_object(Bucket=BUCKET, Key=f"runs/{RUN}/checkpoints/step-000000000100/weights.bin")
        report = {r.model_id: r for r in verify(registry, fetch_remote=True)}
        manifest = s3.get_object(Bucket=BUCKET, Key=f"runs/{RUN}/checkpoints/step-000000000200/manifest.json")
        expected = json.loads(manifest["Body"].read())["files"]["weights.bin"]["sha256"]
        assert report[models[url(200)]["id"]].problems == [
            f"{url(200)}/weights.bin does not match the sha256 its manifest gives ({expected[:16]}...): it was "
            "altered or damaged on the store"]
        assert report[models[url(100)]["id"]].problems == [
            f"{url(100)}/weights.bin is missing on the store: the checkpoint there is incomplete"]
        assert report[models[url(300)]["id"]].ok and report[models[url(300)]["id"]].checked
        # without fetch_remote (the dashboard's badge) nothing is downloaded and a model on S3 passes
        assert all(r.ok for r in verify(registry))
        assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "fetched").iterdir())
        # a copy here damaged: a verify whose fetch is whole puts the verified copy in its place
        (copies[url(300)] / "weights.bin").write_bytes(b"y" * 64)
        assert verify(registry, [models[url(300)]["id"]], fetch_remote=True)[0].ok
        assert fetch_model(registry, models[url(300)])["model_path"] == str(copies[url(300)])
        assert (copies[url(300)] / "weights.bin").read_bytes() != b"y" * 64
    finally:
        registry.close()
    code, out = cli_verify(capsys, tmp_path, str(models[url(200)]["id"]))
    assert code == 1 and out.startswith(f"model {models[url(200)]['id']}: DAMAGED: {url(200)}/weights.bin does not "
                                        "match the sha256 its manifest gives")


def test_a_model_replaced_whole_on_the_store_is_not_the_one_registered(tmp_path, s3, server, capsys):
    models = registered(tmp_path, server)
    source, target = f"runs/{RUN}/checkpoints/step-000000000200", f"runs/{RUN}/checkpoints/step-000000000300"
    for name in ("weights.bin", "manifest.json"):  # 200's checkpoint, whole and self-consistent, under 300's name
        s3.copy_object(Bucket=BUCKET, Key=f"{target}/{name}", CopySource={"Bucket": BUCKET, "Key": f"{source}/{name}"})
    code, out = cli_verify(capsys, tmp_path, "--json")
    report = {r["model_id"]: r for r in json.loads(out)}
    assert code == 1 and [i for i, r in report.items() if not r["ok"]] == [models[url(300)]["id"]]
    assert report[models[url(300)]["id"]]["problems"] == [
        f"the manifest at {url(300)}/manifest.json does not match the hash registered for the model (sha256 "
        f"{models[url(300)]['sha256'][:16]}...): the checkpoint on the store was replaced"]
    registry = Registry(tmp_path / "rlops.db")
    try:
        assert not local_copy(registry, models[url(300)]).exists()  # the replaced one never became the copy
    finally:
        registry.close()


def test_a_store_that_does_not_answer_is_not_checked_and_says_so(tmp_path, s3, server, capsys):
    models = registered(tmp_path, server)
    registry = Registry(tmp_path / "rlops.db")
    try:
        row = models[url(300)]
        registry.set_tags(row["id"], {"s3_endpoint_url": "http://127.0.0.1:9"})  # a port nothing listens on
    finally:
        registry.close()
    code, out = cli_verify(capsys, tmp_path, str(row["id"]))
    assert code == 1
    assert out.startswith(f"model {row['id']}: NOT CHECKED: model {row['id']} is on S3 ({url(300)}) and could not "
                          "be fetched from http://127.0.0.1:9")
