"""Replacing a file so that, whatever happens (a crash, a kill, a full disk), it holds either its old bytes or its
new bytes: write a temp file in the same directory, fsync it, give it the old file's permissions (and mtime, when
kept), check nobody wrote the file meanwhile, rename over it, fsync the directory."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from imageworks.metadata.plan import Fingerprint, MetadataError
from imageworks.system import pid_alive

TEMP_PREFIX = ".iw-"
TEMP_SUFFIX = ".tmp"
PAUSE_ENV = "IMAGEWORKS_TEST_PAUSE"
"""``point:fifo``. Test hook: at ``point`` (``before-replace``, ``after-replace``) write the point's name to the
FIFO, then block, so a test can SIGKILL a writer at a known moment (tests/test_metadata_safety.py)."""


def fingerprint(st: os.stat_result) -> Fingerprint:
    return Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns, ino=st.st_ino)


def stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def describe_fingerprint(fp: Fingerprint | None) -> str:
    return "absent" if fp is None else f"{fp.size} bytes, mtime_ns {fp.mtime_ns}, inode {fp.ino}"


def check_unchanged(path: Path, expected: Fingerprint | None, what: str) -> os.stat_result | None:
    st = stat_or_none(path)
    now = None if st is None else fingerprint(st)
    if now != expected:
        raise MetadataError(
            f"{path}: changed on disk since {what} (was {describe_fingerprint(expected)}, now "
            f"{describe_fingerprint(now)}); read it again",
            code="changed",
        )
    return st


def _may_write(path: Path, st: os.stat_result, access: int) -> bool:
    if os.geteuid() == 0:
        return bool(st.st_mode & stat.S_IWUSR)  # root ignores permissions: read the owner's write bit as intent
    return os.access(path, access, effective_ids=os.access in os.supports_effective_ids)


def check_writable(path: Path, st: os.stat_result | None) -> None:
    """Refuse a read-only file, or a folder we cannot create the temp file in. Root may write anything, so for
    root the permission bits are read as the owner's intent: a file without its owner's write bit (chmod 444) is
    read-only to us too. Everyone else gets os.access()."""
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise MetadataError(f"{path}: not a regular file", code="unsupported")
        if not _may_write(path, st, os.W_OK):
            raise MetadataError(f"{path}: file is read-only; nothing changed", code="read_only")
    if not _may_write(path.parent, path.parent.stat(), os.W_OK | os.X_OK):
        raise MetadataError(
            f"{path}: its folder is read-only, so no temp file can be written next to it; nothing changed",
            code="read_only",
        )


def temp_prefix(path: Path) -> str:
    """Temp names are short (a long photo name plus a suffix could pass NAME_MAX) and tied to the photo's name."""
    return TEMP_PREFIX + hashlib.sha1(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:12] + "-"


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files a killed writer left next to ``path`` (their pid is in the name and no longer runs)."""
    prefix = temp_prefix(path)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def pause_point(name: str) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    point, _, fifo = spec.partition(":")
    if point != name:
        return
    with open(fifo, "w", encoding="utf-8") as fh:  # blocks until the test opens the FIFO for reading
        fh.write(name + "\n")
    with open(fifo, encoding="utf-8") as fh:  # blocks until the test kills us
        fh.read()


def os_error_message(path: Path, exc: OSError) -> MetadataError:
    reasons = {
        errno.ENOSPC: ("disk full", "disk_full"),
        errno.EDQUOT: ("disk quota exceeded", "disk_full"),
        errno.EFBIG: ("file too large for this file system or process limit", "disk_full"),
        errno.EROFS: ("read-only file system", "read_only"),
        errno.EACCES: ("permission denied", "read_only"),
        errno.EPERM: ("operation not permitted", "read_only"),
    }
    reason, code = reasons.get(exc.errno or 0, (exc.strerror or str(exc), "io"))
    return MetadataError(f"{path}: {reason} while writing; the original is untouched", code=code)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a new temp file next to ``path``, fsynced. On any failure the temp file is gone."""
    tmp = path.with_name(f"{temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise os_error_message(path, exc) from exc
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(tmp)
        raise os_error_message(path, exc) from exc
    os.close(fd)
    return tmp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def replace(
    path: Path,
    data: bytes,
    *,
    expect: Fingerprint | None,
    owner: os.stat_result,
    keep_mtime: bool,
    on_ready: Callable[[Fingerprint], None] | None = None,
    finish: Callable[[Path], None] | None = None,
) -> Fingerprint:
    """Put ``data`` at ``path`` atomically. ``expect`` is what ``path`` must still be right before the rename
    (``None``: it must still not exist). An existing file's permissions, xattrs and (with ``keep_mtime``) times
    carry over; a new file (a sidecar) takes its permission bits from ``owner`` (the photo). ``owner``'s uid and
    gid are kept where we may set them. ``finish`` may adjust the temp file last (restore puts the original mode
    and mtime back); ``on_ready`` learns the new file's fingerprint before it lands."""
    remove_stale_temps(path)
    tmp = write_temp(path, data)
    try:
        if expect is not None:
            shutil.copystat(path, tmp)  # mode, times, xattrs (ACLs too, where the file system keeps them there)
            if not keep_mtime:
                os.utime(tmp)
        else:
            os.chmod(tmp, stat.S_IMODE(owner.st_mode) & 0o666)
        if os.geteuid() in (0, owner.st_uid):
            try:
                os.chown(tmp, owner.st_uid, owner.st_gid)
            except PermissionError:
                pass  # not a member of the photo's group: the file keeps ours
        if finish is not None:
            finish(tmp)
        after = fingerprint(os.stat(tmp))
        if on_ready is not None:
            on_ready(after)
        pause_point("before-replace")
        check_unchanged(path, expect, "it was read")
        if expect is None:
            _create(tmp, path)
        else:
            os.replace(tmp, path)
    except FileExistsError as exc:
        _unlink_quietly(tmp)
        raise MetadataError(f"{path}: appeared on disk while we were writing it; nothing changed", "changed") from exc
    except OSError as exc:
        _unlink_quietly(tmp)
        raise os_error_message(path, exc) from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise
    try:
        fsync_dir(path.parent)
    except OSError:
        pass  # the rename happened; a directory that cannot be fsynced (some network mounts) changes nothing
    pause_point("after-replace")
    return after


def _create(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to a ``path`` that must not exist. A hard link fails if someone created it meanwhile, where a
    rename would clobber theirs; file systems without hard links (exFAT cards and drives) get a last check and a
    rename."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists", str(path)) from exc
        os.replace(tmp, path)
        return
    os.unlink(tmp)
