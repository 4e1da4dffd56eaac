"""Which filesystem holds the database, and whether SQLite can be trusted on it.

SQLite's locks and WAL's shared-memory index assume one host's kernel sees every access. A
network or cluster filesystem (NFS, SMB, Ceph, Lustre, GPFS, BeeGFS...) breaks that, and so may
any FUSE filesystem: its locks and mmap go through a userspace daemon that may forward them
anywhere (rclone, JuiceFS, s3fs, sshfs) or not at all. So the rule is by family, not by a list of
names: every ``fuse.*`` type is refused except a few known to sit on a local disk (a container's
fuse-overlayfs root, squashfuse images, ntfs-3g), and every NFS and SMB version is refused by its
prefix. ``virtiofs`` (a VM's or Docker Desktop's host share, one kernel's locks) is allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# Kernel cluster and network filesystems that no prefix below catches.
NETWORK_TYPES = frozenset({
    "9p", "afs", "kafs", "coda", "ncpfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "orangefs",
    "pvfs2", "ocfs2", "gfs2", "juicefs", "moosefs", "panfs", "wekafs", "davfs", "sshfs",
})
NETWORK_PREFIXES = ("nfs", "smb", "cifs")  # nfs, nfs4; smb3, smbfs; cifs
NOT_NETWORK = frozenset({
    "nfsd",  # the NFS server's control filesystem (/proc/fs/nfsd), not an NFS mount
    "fuse.fuse-overlayfs",  # rootless containers' root filesystem, over a local directory
    "fuse.squashfuse", "fuse.squashfuse_ll",  # read-only images (AppImage, Apptainer)
    "fuse.ntfs-3g", "fuse.lxcfs",
})
_ESCAPE = re.compile(rb"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fs_type: str
    device: str  # major:minor, as st_dev reports it


def is_network_filesystem(fs_type: str) -> bool:
    """True for a filesystem type SQLite's locking cannot be trusted on (see the module's rule)."""
    kind = fs_type.lower()
    if kind in NOT_NETWORK:
        return False
    if kind == "fuse" or kind.startswith("fuse."):
        return True
    return kind.startswith(NETWORK_PREFIXES) or kind in NETWORK_TYPES


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a ``/proc/<pid>/mountinfo`` text, in its order (a later mount hides an earlier
    one at the same point). Lines without the ``-`` separator are skipped."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields[6:] or len(fields) < 10:
            continue
        separator = fields.index("-", 6)  # optional fields (shared:N...) come between 6 and the "-"
        mounts.append(Mount(unescape(fields[4]), unescape(fields[separator + 1]), fields[2]))
    return mounts


def unescape(field: str) -> str:
    """A mountinfo field as the path it names: the kernel writes space, tab, newline and backslash
    as three-digit octal escapes (``\\040``, ``\\011``, ``\\012``, ``\\134``). Undone as bytes, so a
    name that is not UTF-8 comes back as Python's own os functions spell it (surrogateescape)."""
    if "\\" not in field:
        return field
    raw = field.encode("utf-8", "surrogateescape")
    return _ESCAPE.sub(lambda match: bytes([int(match.group(1), 8)]), raw).decode("utf-8", "surrogateescape")


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem holding ``path``, from /proc/self/mountinfo (None off Linux)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_bytes().decode("utf-8", "surrogateescape")
        except OSError:
            return None
    # The nearest existing ancestor, with its symlinks resolved, plus the part still to be created.
    existing, missing = Path(os.path.abspath(path)), []
    while not existing.exists() and existing != existing.parent:
        missing.insert(0, existing.name)
        existing = existing.parent
    target = os.path.join(os.path.realpath(existing), *missing)
    best, best_type = "", None
    for mount in parse_mountinfo(mountinfo):
        point = mount.mount_point
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, mount.fs_type
    return best_type
