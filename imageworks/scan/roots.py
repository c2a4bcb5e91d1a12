"""What a walk starts from: the root checked and made absolute, and the CPUs this process may use."""

from __future__ import annotations

import os
import stat

from imageworks.scan.records import ScanError, display_path


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_root(root: str | os.PathLike[str]) -> str:
    """The absolute form of ``root`` (the cache key), or ScanError saying why it can't be scanned."""
    path = os.path.abspath(os.path.expanduser(os.fspath(root)))
    shown = display_path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ScanError(f"{shown}: no such directory") from None
    except OSError as exc:
        raise ScanError(f"{shown}: cannot open ({exc.strerror or exc})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ScanError(f"{shown} is a file, not a directory")
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        raise ScanError(f"{shown}: cannot list ({exc.strerror or exc})") from None
    return path
