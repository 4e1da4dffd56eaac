"""The network-filesystem refusal decides by family (any FUSE but a few local ones, every NFS and
SMB version, the cluster filesystems) and reads mount points with every mountinfo escape undone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlops.errors import StoreError
from rlops.store.db import refuse_network_filesystem
from rlops.store.filesystems import filesystem_type, is_network_filesystem, parse_mountinfo, unescape

REFUSED = ["nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "fuse.ceph-fuse", "glusterfs", "fuse.glusterfs",
           "lustre", "gpfs", "beegfs", "juicefs", "fuse.juicefs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
           "fuse.sshfs", "fuse.mfs", "fuse.someone-elses-fs", "fuse", "ocfs2", "gfs2", "afs", "pvfs2", "wekafs"]
LOCAL = ["ext4", "xfs", "btrfs", "zfs", "tmpfs", "overlay", "fuse.fuse-overlayfs", "fuse.squashfuse", "fuseblk",
         "nfsd", "virtiofs", "f2fs", "vfat"]


@pytest.mark.parametrize("fs_type", REFUSED)
def test_network_cluster_and_fuse_filesystems_are_refused(fs_type):
    assert is_network_filesystem(fs_type)
    mountinfo = f"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n40 22 0:35 / /mnt/shared rw shared:7 - {fs_type} src rw\n"
    with pytest.raises(StoreError, match=rf"network filesystem \({fs_type}\)"):
        refuse_network_filesystem(Path("/mnt/shared/runs/rlops.db"), mountinfo)


@pytest.mark.parametrize("fs_type", LOCAL)
def test_local_filesystems_are_allowed(fs_type):
    assert not is_network_filesystem(fs_type)
    refuse_network_filesystem(Path("/mnt/disk/rlops.db"), f"22 1 8:1 / / rw - ext4 r rw\n40 22 0:35 / /mnt/disk rw - "
                                                          f"{fs_type} src rw\n")


def test_every_octal_escape_in_a_mount_point_is_decoded():
    assert unescape(r"/mnt/a\040b\011c\012d\134e") == "/mnt/a b\tc\nd\\e"
    assert unescape(r"/mnt/caf\303\251") == "/mnt/café"  # escaped bytes are bytes of the UTF-8 name
    mountinfo = "\n".join([
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        r"40 22 0:35 / /mnt/my\040share\011x rw,relatime shared:2 master:3 - fuse.rclone remote: rw",
        r"41 22 0:36 / /mnt/back\134slash rw - nfs4 server:/export rw",
        r"42 22 0:37 / /mnt/new\012line rw - beegfs beegfs_nodev rw",
        "not a mountinfo line",
    ])
    mounts = parse_mountinfo(mountinfo)
    assert [(m.mount_point, m.fs_type) for m in mounts] == [
        ("/", "ext4"), ("/mnt/my share\tx", "fuse.rclone"), ("/mnt/back\\slash", "nfs4"), ("/mnt/new\nline", "beegfs")]
    assert filesystem_type(Path("/mnt/my share\tx/runs/rlops.db"), mountinfo) == "fuse.rclone"
    assert filesystem_type(Path("/mnt/back\\slash/rlops.db"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/mnt/new\nline/rlops.db"), mountinfo) == "beegfs"
    assert filesystem_type(Path("/mnt/my share/rlops.db"), mountinfo) == "ext4"  # a prefix is not the mount
    with pytest.raises(StoreError, match=r"\(fuse.rclone\)"):
        refuse_network_filesystem(Path("/mnt/my share\tx/rlops.db"), mountinfo)


def test_the_real_mountinfo_is_read_and_names_the_filesystem_of_a_real_directory(tmp_path):
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="surrogateescape"))
    assert any(m.mount_point == "/" for m in mounts)
    # The mount holding tmp_path, found independently by its device number, has the type reported.
    device = os.stat(tmp_path).st_dev
    holding = [m for m in mounts if m.device == f"{os.major(device)}:{os.minor(device)}"
               and (str(tmp_path.resolve()) + "/").startswith(m.mount_point.rstrip("/") + "/")]
    assert holding, "no mount in /proc/self/mountinfo has this directory's device"
    assert filesystem_type(tmp_path / "runs" / "rlops.db") == holding[-1].fs_type
    refuse_network_filesystem(tmp_path / "rlops.db")  # this machine's test directory is local
