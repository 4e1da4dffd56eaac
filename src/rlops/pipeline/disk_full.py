"""A full disk, said in one message: what filled, where, how much is left, and how to go on.

Training that meets ENOSPC (or a quota, EDQUOT) while writing a checkpoint, a log or a receipt
cannot do anything about it, and a traceback tells the user nothing they can act on. The run's
earlier checkpoints, its log and the store are intact (checkpoints are written aside and renamed
into place), so the message ends with the command that resumes it once there is room.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

from rlops.errors import TrainingError
from rlops.options.schema import Options

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def find_disk_full(error: BaseException | None) -> OSError | None:
    """The ENOSPC/EDQUOT error in ``error``'s chain of causes, if there is one."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        error = error.__cause__ or error.__context__
    return None


def disk_full_error(error: BaseException, options: Options) -> TrainingError | None:
    """The one-message error for a full disk, or None when ``error`` is something else."""
    full = find_disk_full(error)
    if full is None:
        return None
    model_dir = Path(options.store.model_dir).resolve()
    run_dir = model_dir / options.store.run_name if options.store.run_name else model_dir
    notes = [note for note in getattr(full, "__notes__", ()) if note.startswith("while ")]
    what = notes[-1] if notes else f"while writing {full.filename}" if full.filename else "while writing to it"
    usage, mount = _usage(run_dir)
    space = f"{_size(usage.free)} free of {_size(usage.total)}" if usage else "free space unknown"
    receipt = getattr(error, "receipt", None)
    receipt_problem = getattr(error, "receipt_error", None)
    kept = f"; the failure receipt is in {receipt}" if receipt else \
        f"; the failure receipt could not be written either ({receipt_problem})" if receipt_problem else ""
    message = (f"the disk holding {run_dir} is full ({os.strerror(full.errno)}, {errno.errorcode[full.errno]}) "
               f"{what}: {space} on {mount}. The run's earlier checkpoints, its log and the store are intact{kept}")
    hint = (f"free space on {mount} (or point store.model_dir elsewhere), then resume: rlops train --train.resume "
            f"--store.run-name {options.store.run_name} --store.model-dir {model_dir}")
    return TrainingError(message, hint=hint)


def _usage(path: Path) -> tuple[Any, Path]:
    """Disk usage of the filesystem holding ``path`` (or its nearest existing parent), and its mount point."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    mount = existing
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        return shutil.disk_usage(existing), mount
    except OSError:
        return None, mount


def _size(count: float) -> str:
    if count < 1024:
        return f"{int(count)} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        count /= 1024
        if count < 1024 or unit == "TB":
            break
    return f"{count:.1f} {unit}"
