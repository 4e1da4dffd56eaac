"""Resuming from the S3 store: bring a run's newest checkpoint down before ``--train.resume``.

On a machine that never ran the run (or holds an older copy of it), the run's options, event log
and newest whole checkpoint are fetched from ``store.s3_uri``. The checkpoint lands under a
temporary name, every file is checked against its manifest's sha256, and only then does it take
its name, so a download cut short never becomes the checkpoint a resume loads. A local copy is
kept when it is as new as the store's (the local event log always wins: it is the source of truth).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from rlops.errors import CheckpointCorruptError, CheckpointNotFoundError, OptionsError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import (MANIFEST, NAME_PATTERN, TEMP_PREFIX, file_sha256, latest_checkpoint,
                                        read_checkpoint)
from rlops.sinks.s3_objects import RunObjects, s3_client, s3_location
from rlops.store.run_dir import OPTIONS_FILE, RunDirectory

log = logging.getLogger(__name__)
MISSING = ("404", "NoSuchKey", "NotFound")  # what S3 servers answer for a key that is not there


def uses_s3(options: Options) -> bool:
    return "s3" in options.store.backends


def remote_checkpoints(objects: RunObjects) -> list[tuple[int, str]]:
    """(env_steps, name) of the checkpoints whose manifest reached the store, newest first."""
    found = []
    for key in objects.list_keys("checkpoints"):
        name, _, file = key.partition("/")
        match = NAME_PATTERN.match(name)
        if match and file == MANIFEST:
            found.append(((int(match.group(1)), int(match.group(2) or 0)), name))
    return [(steps, name) for (steps, _), name in sorted(found, reverse=True)]


def fetch_run(options: Options) -> Path | None:
    """Fetch the run named by ``store.run_name`` when the store's checkpoint is newer; returns it."""
    if not options.store.run_name:
        raise OptionsError("resuming from S3 needs the run's name", hint="add --store.run-name RUN")
    run = RunDirectory(Path(options.store.model_dir) / options.store.run_name)
    objects = RunObjects(s3_client(options), s3_location(options), run.name)
    objects.check_bucket()
    try:
        local_steps = latest_checkpoint(run.checkpoints).env_steps
    except CheckpointNotFoundError:
        local_steps = -1
    for steps, name in remote_checkpoints(objects):
        if steps <= local_steps:
            log.info("the local copy of %s is as new as %s: resuming from it", run.name, objects.url())
            return None
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        for file in (OPTIONS_FILE, run.events_file.name):
            if not (run.path / file).exists() and objects.exists(file):
                objects.download_file(run.path / file, file)
        try:
            path = download_checkpoint(objects, name, run.checkpoints)
        except CheckpointCorruptError as exc:
            log.warning("skipping %s on the store: %s", name, exc.message)
            continue
        log.info("fetched %s of run %s from %s", name, run.name, objects.url())
        return path
    return None


def download_checkpoint(objects: RunObjects, name: str, root: Path, as_name: str | None = None) -> Path:
    """One checkpoint into ``root/name`` (or ``root/as_name``), every file checked against its
    manifest's sha256, or ``CheckpointCorruptError`` naming the object that is missing or does not match."""
    temp = root / f"{TEMP_PREFIX}s3-{uuid.uuid4().hex[:8]}"
    try:
        _download(objects, temp / MANIFEST, name, MANIFEST)
        try:
            checkpoint = read_checkpoint(temp, verify=False)
        except CheckpointCorruptError:
            raise CheckpointCorruptError(f"{objects.url('checkpoints', name, MANIFEST)} is not a readable "
                                         "checkpoint manifest") from None
        for file in checkpoint.manifest["files"]:
            if Path(file).is_absolute() or ".." in Path(file).parts:
                raise CheckpointCorruptError(f"{objects.url('checkpoints', name)} names a file outside it: {file!r}")
            _download(objects, temp / file, name, file)
        for file, entry in checkpoint.manifest["files"].items():  # every hash must match before it takes the name
            if file_sha256(temp / file) != entry["sha256"]:
                raise CheckpointCorruptError(f"{objects.url('checkpoints', name, file)} does not match the sha256 "
                                             f"its manifest gives ({entry['sha256'][:16]}...): it was altered or "
                                             "damaged on the store")
        target = root / (as_name or name)
        if target.exists():
            shutil.rmtree(target)
        temp.rename(target)
        return target
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _download(objects: RunObjects, target: Path, name: str, file: str) -> None:
    from botocore.exceptions import ClientError

    try:
        objects.download_file(target, "checkpoints", name, file)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in MISSING:
            raise
        raise CheckpointCorruptError(f"{objects.url('checkpoints', name, file)} is missing on the store: the "
                                     "checkpoint there is incomplete") from None
