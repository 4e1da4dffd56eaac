"""A directory that appears whole or not at all, with a ``manifest.json`` of its files' hashes.

It is written under a hidden temporary name, every file and directory is fsynced, and only then is
it renamed into place; so a writer killed at any instant leaves the old state, never half of the
new. Checkpoints (pipeline/checkpoints.py) and datasets (datasets/layout.py) are both written so;
this module knows neither format: the caller names the manifest's fields and the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
TEMP_PREFIX = ".tmp-"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def table_sha256(files: dict[str, Any]) -> str:
    """One hash for a whole directory: the hash of its manifest's file table."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def file_problems(directory: Path, files: dict[str, Any]) -> list[str]:
    """Each file of a manifest's table (``files``) that is missing under ``directory``, or differs
    from its entry (in size, else in sha256), as a readable line naming it; in name order."""
    problems = []
    for name, entry in sorted(files.items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {entry['bytes']}")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{name} does not match its sha256")
    return problems


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by its path (a directory's fsync makes its entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_sealed_dir(root: Path, stem: str, fill: Callable[[Path], dict[str, Any]],
                     destination: Callable[[], Path], described: str) -> tuple[Path, dict[str, Any]]:
    """``fill(temp)`` writes the files into a fresh directory and returns the manifest's fields; this
    adds ``files`` (sha256 and bytes of each, by path relative to the directory), writes the manifest,
    fsyncs it all and renames the directory to ``destination()`` (asked only then, so that it may
    raise if the name was taken meanwhile). Any failure removes the temporary directory; an
    ``OSError`` (a full disk often names no file) gets the note "while writing ``described``"."""
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f"{TEMP_PREFIX}{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        fields = fill(temp)
        files = {}
        for path in sorted(p for p in temp.rglob("*") if p.is_file()):
            fsync_path(path)
            files[path.relative_to(temp).as_posix()] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        manifest = {**fields, "files": files}
        with open(temp / MANIFEST, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        for directory in sorted((p for p in temp.rglob("*") if p.is_dir()), reverse=True):
            fsync_path(directory)
        fsync_path(temp)
        final = destination()
        os.rename(temp, final)
        fsync_path(root)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(exc, OSError):
            exc.add_note(f"while writing {described}")
        raise
    return final, manifest


def remove_partial(root: Path) -> int:
    """Delete the temporary directories of writers that were killed; returns how many."""
    removed = 0
    if root.is_dir():
        for path in root.iterdir():
            if path.name.startswith(TEMP_PREFIX) and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed
