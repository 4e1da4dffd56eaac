"""A registry model that lives on S3 (a remote run's row, ``remote_models``) brought to this machine
before anything loads it.

It is fetched once into ``fetched/`` beside the registry's database, under a name that carries its
registered hash, with ``remote_resume``'s fetcher: every file is checked against the sha256 its
manifest gives, and the manifest against the hash registered for the model; only then does the
copy take its name and get loaded. A copy already here is checked the same way and fetched again
when it does not match. What is missing or altered on the store is an error naming the object.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rlops.errors import BackendError, CheckpointCorruptError, CheckpointError
from rlops.pipeline.checkpoints import read_checkpoint
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
    location, run_id, name = _parts(url, model["id"])
    local = local_copy(registry, model)
    root = local.parent
    if not _matches(local, model):
        endpoint = (model.get("tags") or {}).get(ENDPOINT_TAG)
        objects = RunObjects(client_at(endpoint), location, run_id)
        try:
            download_checkpoint(objects, name, root, as_name=local.name)
        except CheckpointCorruptError as exc:
            raise CheckpointCorruptError(
                f"model {model['id']} cannot be loaded: {exc.message}",
                hint=f"nothing was loaded. Pick another model of run {run_id} (rlops registry list), or put the "
                     f"checkpoint back at {url} from the run's directory on its node") from None
        except Exception as exc:
            if not _from_botocore(exc):
                raise
            raise BackendError(f"model {model['id']} is on S3 ({url}) and could not be fetched from "
                               f"{endpoint or 'AWS'}: {exc}",
                               hint="check the S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and that "
                                    "the endpoint answers from this machine") from None
        if not _matches(local, model):
            shutil.rmtree(local, ignore_errors=True)
            raise CheckpointCorruptError(
                f"model {model['id']} cannot be loaded: the manifest at {url}/manifest.json does not match the "
                f"hash registered for the model (sha256 {str(model['sha256'])[:16]}...): the checkpoint on the store "
                "was replaced", hint=f"nothing was loaded. Pick another model of run {run_id} (rlops registry list)")
    return {**model, "model_path": str(local), "fetched_from": url}


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
