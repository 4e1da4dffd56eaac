"""A disk that fills up, for the crash-and-fault tests (tests/faults.py stops processes at a call).

``small_disk(directory, size_mb)`` mounts a real tmpfs of that size (as root, where mounting is
allowed): every writer, SQLite and torch included, meets a true ENOSPC. ``ballast(disk, leave)``
fills it to within ``leave`` bytes, and ``disk.grow(size_mb)`` frees space again (a remount), so
that a test can resume the run it starved.

Where mounting is not allowed (no root, a container without CAP_SYS_ADMIN) the same object falls
back to a Python-level injector for subprocesses: ``disk.env`` holds the variables that make a
``sitecustomize`` raise ENOSPC from every file write under the directory once ``leave`` bytes were
written (and ever after, until ``grow``); tmpfs covers more (C-level writers), the fallback keeps
the tests meaningful everywhere. ``disk.kind`` says which one a test got.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOOK_DIR = Path(__file__).parent / "fault_hooks"  # its sitecustomize.py: the fallback injector


class SmallDisk:
    def __init__(self, path: Path, size_mb: int, kind: str) -> None:
        self.path, self.size_mb, self.kind = path, size_mb, kind
        self.env: dict[str, str] = {}
        self._flag = path.parent / f".{path.name}-full-{uuid.uuid4().hex[:6]}"

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

    def fill(self, leave: int) -> None:
        """Write a ballast file so that about ``leave`` bytes stay free."""
        if self.kind == "tmpfs":
            ballast = self.path / ".ballast"
            size = max(self.free_bytes() - leave, 0)
            with open(ballast, "wb") as handle:
                handle.truncate(0)
                for offset in range(0, size, 1 << 20):
                    handle.write(b"\0" * min(1 << 20, size - offset))
        else:
            self._flag.write_text(str(leave))
            self.env = {"RLOPS_TEST_ENOSPC_DIR": str(self.path), "RLOPS_TEST_ENOSPC_AFTER": str(leave),
                        "RLOPS_TEST_ENOSPC_FLAG": str(self._flag),
                        "PYTHONPATH": os.pathsep.join([str(HOOK_DIR), os.environ.get("PYTHONPATH", "")])}

    def grow(self, size_mb: int | None = None) -> None:
        """Make room again: drop the ballast and (tmpfs) remount larger; the fallback stops failing."""
        (self.path / ".ballast").unlink(missing_ok=True)
        self._flag.unlink(missing_ok=True)
        if self.kind == "tmpfs" and size_mb:
            subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(self.path)], check=True)
            self.size_mb = size_mb
        self.env = {}


@contextmanager
def small_disk(directory: Path, size_mb: int = 20, tmpfs: bool = True) -> Iterator[SmallDisk]:
    """A directory on a disk of ``size_mb``: a tmpfs where it can be mounted (and ``tmpfs``), else the injector."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = tmpfs and os.geteuid() == 0 and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(directory)], capture_output=True).returncode == 0
    disk = SmallDisk(directory, size_mb, "tmpfs" if mounted else "injected")
    try:
        yield disk
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)
        disk.grow()


def is_enospc(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno == errno.ENOSPC
