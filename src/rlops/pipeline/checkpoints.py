"""Crash-safe checkpoint directories.

A checkpoint is one directory ``step-<env_steps>`` holding its files and a ``manifest.json``
with the sha256 of each. It is written under a hidden temporary name, every file and the
directory are fsynced, and only then is it renamed into place, so a kill at any instant leaves
either the previous set or the new one. Readers pick the newest directory whose manifest and
hashes verify and skip anything else, so a partial checkpoint is never loaded.

This module knows nothing of SB3; ``agent_state`` decides what goes inside.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import CheckpointCorruptError, CheckpointNotFoundError
from rlops.pipeline.sealed_dir import MANIFEST, file_problems, table_sha256, write_sealed_dir
from rlops.pipeline.sealed_dir import TEMP_PREFIX, file_sha256, remove_partial  # noqa: F401 - callers import them here

FORMAT = "rlops-checkpoint/1"
NAME_PATTERN = re.compile(r"^step-(\d{12})(?:\.(\d+))?$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    manifest: dict[str, Any]

    @property
    def env_steps(self) -> int:
        return int(self.manifest["env_steps"])

    @property
    def options(self) -> dict[str, Any]:
        return self.manifest["options"]

    @property
    def sha256(self) -> str:
        """One hash for the whole checkpoint: the hash of its manifest's file table."""
        return table_sha256(self.manifest["files"])

    def file(self, name: str) -> Path | None:
        return self.path / name if name in self.manifest["files"] else None


def write_checkpoint(root: Path, env_steps: int, fill: Callable[[Path], None], metadata: dict[str, Any]) -> Checkpoint:
    """Write a checkpoint atomically: ``fill(directory)`` writes the files, this adds the manifest."""
    def filled(temp: Path) -> dict[str, Any]:
        fill(temp)
        return {"format": FORMAT, "env_steps": int(env_steps), "created": time.time(), **metadata}

    final, manifest = write_sealed_dir(root, f"{env_steps:012d}", filled, lambda: _free_name(root, env_steps),
                                       f"checkpoint {root / f'step-{env_steps:012d}'}")
    return Checkpoint(final, manifest)


def _free_name(root: Path, env_steps: int) -> Path:
    # A resumed run may reach the same step count again; keep both rather than overwrite.
    base = f"step-{env_steps:012d}"
    if not (root / base).exists():
        return root / base
    suffix = 1
    while (root / f"{base}.{suffix}").exists():
        suffix += 1
    return root / f"{base}.{suffix}"


def read_checkpoint(path: Path, verify: bool = True) -> Checkpoint:
    """Open one checkpoint directory; with ``verify``, every file must match its hash."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointNotFoundError(f"checkpoint {str(path)!r} does not exist",
                                      hint="give a checkpoint directory (step-...) or a run directory")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointCorruptError(f"checkpoint {str(path)!r} has no {MANIFEST}: it is incomplete or not a checkpoint",
                                     hint="use the run directory to pick its newest complete checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointCorruptError(f"checkpoint {str(path)!r} has an unreadable {MANIFEST}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "files" not in manifest:
        raise CheckpointCorruptError(f"checkpoint {str(path)!r} is not in format {FORMAT}")
    checkpoint = Checkpoint(path, manifest)
    if verify:
        problems = verify_files(checkpoint)
        if problems:
            raise CheckpointCorruptError(f"checkpoint {str(path)!r} is corrupt: {'; '.join(problems)}",
                                         hint="load an earlier checkpoint, or the run directory to pick the newest intact one")
    return checkpoint


def verify_files(checkpoint: Checkpoint) -> list[str]:
    """Every mismatch between the manifest and the files on disk, as readable lines."""
    return file_problems(checkpoint.path, checkpoint.manifest["files"])


def list_checkpoints(root: Path) -> list[Path]:
    """Checkpoint directories under ``root``, newest first (partial ones are never listed)."""
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = NAME_PATTERN.match(path.name)
        if match and path.is_dir():
            found.append(((int(match.group(1)), int(match.group(2) or 0)), path))
    return [path for _, path in sorted(found, reverse=True)]


def iter_intact(root: Path) -> Iterator[Checkpoint]:
    """Intact checkpoints, newest first; corrupt ones are logged and skipped."""
    for path in list_checkpoints(root):
        try:
            yield read_checkpoint(path)
        except CheckpointCorruptError as exc:
            log.warning("skipping %s", exc.message)


def latest_checkpoint(root: Path) -> Checkpoint:
    checkpoint = next(iter_intact(root), None)
    if checkpoint is None:
        raise CheckpointNotFoundError(f"no complete checkpoint under {str(root)!r}",
                                      hint="train with train.checkpoint_freq > 0, or let the run finish")
    return checkpoint
