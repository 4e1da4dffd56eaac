"""A registry model that lives on S3 (a remote run's row, ``remote_models``) brought to this machine
before anything loads it.

It is fetched once into ``fetched/`` beside the registry's database, under a name that carries its
registered hash, with ``remote_resume``'s fetcher: every file is checked against the sha256 its
manifest gives, and the manifest against the hash registered for the model; only then does the
copy take its name and get loaded. A copy already here is checked the same way and fetched again
when it does not match. What is missing or altered on the store is an error naming the object.

``rlops registry verify`` checks the store itself (``verify_remote``): the objects are fetched
again whether or not a copy is here, so a checkpoint altered on S3 after its copy came is found.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from rlops.errors import BackendError, CheckpointCorruptError, CheckpointError
from rlops.pipeline.checkpoints import TEMP_PREFIX, read_checkpoint
from rlops.services.remote_resume import download_checkpoint
from rlops.sinks.s3_objects import RunObjects, S3Location, client_at
from rlops.store.registry import Registry

FETCHED_DIR = "fetched"
ENDPOINT_TAG = "s3_endpoint_url"  # on a remote row: the endpoint its run used (unset: AWS, or $AWS_ENDPOINT_URL)


def is_remote(model: dict[str, Any]) -> bool:
    return str(model["model_path"]).startswith("s3://")


def fetch_model(registry: Registry, model: dict[str, Any]) -> dict[str, Any]:
    """The row with ``model_path`` the verified local copy of its S3 checkpoint (``fetched_from``:
    the URL); a row of a local checkpoint as it is."""
    if not is_remote(model):
        return model
    url = model["model_path"]
    _, run_id, _ = _parts(url, model["id"])
    local = local_copy(registry, model)
    if not _matches(local, model):
        try:
            _download(model, local.parent, local.name)
        except CheckpointCorruptError as exc:
            raise CheckpointCorruptError(
                f"model {model['id']} cannot be loaded: {exc.message}",
                hint=f"nothing was loaded. Pick another model of run {run_id} (rlops registry list), or put the "
                     f"checkpoint back at {url} from the run's directory on its node") from None
        if not _matches(local, model):
            shutil.rmtree(local, ignore_errors=True)
            raise CheckpointCorruptError(
                f"model {model['id']} cannot be loaded: {_replaced(model)}",
                hint=f"nothing was loaded. Pick another model of run {run_id} (rlops registry list)")
    return {**model, "model_path": str(local), "fetched_from": url}


def verify_remote(registry: Registry, model: dict[str, Any]) -> list[str]:
    """What is wrong with a model on S3, from its objects fetched again now (none: every file
    matches its manifest's sha256, and the manifest the hash registered); the whole copy becomes
    the model's copy here when that one is missing or damaged. ``BackendError`` when the store does
    not answer (nothing was checked)."""
    try:
        local = local_copy(registry, model)
    except CheckpointError as exc:  # a URL that is not a run's checkpoint
        return [exc.message]
    local.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}verify-", dir=local.parent) as scratch:
        try:
            copy = _download(model, Path(scratch), local.name)
        except CheckpointError as exc:  # an object missing or altered, a manifest unreadable, a path not a run's
            return [exc.message]
        if model["sha256"] and read_checkpoint(copy, verify=False).sha256 != model["sha256"]:
            return [_replaced(model)]
        if not _matches(local, model):  # the copy a load would use, made whole by this fetch
            shutil.rmtree(local, ignore_errors=True)
            try:
                copy.rename(local)
            except OSError:  # a load's fetch put its own copy there meanwhile: it was checked the same way
                pass
    return []


def _download(model: dict[str, Any], root: Path, as_name: str) -> Path:
    """The model's objects into ``root/as_name``, every file checked against its manifest
    (``download_checkpoint``: ``CheckpointCorruptError`` naming the object), or ``BackendError``."""
    url = model["model_path"]
    location, run_id, name = _parts(url, model["id"])
    endpoint = (model.get("tags") or {}).get(ENDPOINT_TAG)
    try:
        return download_checkpoint(RunObjects(client_at(endpoint), location, run_id), name, root, as_name=as_name)
    except Exception as exc:
        if not _from_botocore(exc):
            raise
        raise BackendError(f"model {model['id']} is on S3 ({url}) and could not be fetched from "
                           f"{endpoint or 'AWS'}: {exc}",
                           hint="check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and that "
                                "the endpoint answers from this machine") from None


def _replaced(model: dict[str, Any]) -> str:
    return (f"the manifest at {model['model_path']}/manifest.json does not match the hash registered for the model "
            f"(sha256 {str(model['sha256'])[:16]}...): the checkpoint on the store was replaced")


def local_copy(registry: Registry, model: dict[str, Any]) -> Path:
    """Where a model on S3 lands here (named by its registered hash: a copy never changes under its name)."""
    _, run_id, name = _parts(model["model_path"], model["id"])
    return registry.path.parent / FETCHED_DIR / f"{(model['sha256'] or 'unhashed')[:16]}-{run_id}-{name}"


def _parts(url: str, model_id: int) -> tuple[S3Location, str, str]:
    """s3://bucket/prefix/<run>/checkpoints/<name> -> (the store's location, run, name)."""
    bucket, _, key = url[len("s3://"):].partition("/")
    parts = key.strip("/").split("/")
    if not bucket or len(parts) < 3 or parts[-2] != "checkpoints":
        raise CheckpointError(f"model {model_id}'s path {url!r} is not a run's checkpoint on S3 "
                              "(s3://BUCKET/PREFIX/RUN/checkpoints/NAME)",
                              hint="rlops registry list shows the models; register a local checkpoint with "
                                   "rlops registry add PATH")
    return S3Location(bucket, "/".join(parts[:-3])), parts[-3], parts[-1]


def _matches(local: Path, model: dict[str, Any]) -> bool:
    """A local copy that is whole (every hash) and is the checkpoint registered."""
    if not local.is_dir():
        return False
    try:
        checkpoint = read_checkpoint(local)
    except CheckpointError:
        return False
    return not model["sha256"] or checkpoint.sha256 == model["sha256"]


def _from_botocore(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("botocore", "boto3", "s3transfer"))
