"""Whether a library root can be watched, and what a watch's failure means (daemon/watch.py runs the watches)."""

from __future__ import annotations

import contextlib
import errno
import os

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs"}
    | {"fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.glusterfs", "fuse.cephfs"}
)
"""Filesystems whose changes made by another machine inotify never reports."""


def filesystem_of(path: str, mountinfo: str) -> str:
    """The filesystem type of the mount holding ``path``, from the text of ``/proc/self/mountinfo`` ('' unknown)."""
    best, kind = "", ""
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ")
        inside = path == mount or path.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, line.split(" - ", 1)[1].split()[0]
    return kind


def count_dirs(root: str, limit: int) -> int:
    """Directories under ``root``, itself included, counting no further than ``limit + 1``."""
    found, todo = 0, [root]
    while todo and found <= limit:
        path = todo.pop()
        found += 1
        with contextlib.suppress(OSError), os.scandir(path) as entries:
            todo += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    return found


def why_not_watched(root: str, follow_symlinks: bool, max_watches: int) -> str:
    """Why ``root`` cannot be watched, or ''."""
    if follow_symlinks:
        return "its listing follows symlinks, which a watch does not"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            kind = filesystem_of(root, f.read())
    except OSError:
        kind = ""
    if kind in NETWORK_FILESYSTEMS:
        return f"on a network filesystem ({kind}): changes made on other machines are not reported"
    if max_watches and (n := count_dirs(root, max_watches)) > max_watches:
        return f"{n:,}+ folders, more than scan.max_watches ({max_watches:,})"
    return ""


def why_it_failed(exc: BaseException) -> str:
    """A watch's failure in one line: the inotify limit (at the start, an OSError; on a folder made later, an error
    watchfiles raises while watching) is named as such."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if getattr(exc, "errno", None) == errno.ENOSPC or "watch limit" in text.lower():
        return f"the system's limit of watched folders is reached (fs.inotify.max_user_watches): {text}"
    return f"cannot watch: {text}"


def undecodable_name(exc: BaseException) -> bool:
    """watchfiles' error for an event on a name that is not UTF-8 (it converts every path to str)."""
    return "Unable to decode path" in str(exc)
