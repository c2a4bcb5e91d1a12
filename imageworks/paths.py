"""Every filesystem path ImageWorks uses, in one place (XDG through platformdirs).

Tests isolate by setting XDG_RUNTIME_DIR, XDG_CACHE_HOME, XDG_STATE_HOME and XDG_CONFIG_HOME, so every
function here reads the environment at call time rather than caching it at import.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
import tempfile
from pathlib import Path

import platformdirs

from imageworks.errors import ImageWorksError

APP = "imageworks"


class UnsafePathError(ImageWorksError):
    """A runtime path another user could control: we refuse to use it rather than talk to whoever set it up."""


def owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_private(path: Path, st: os.stat_result, kind: str) -> None:
    """Refuse ``path`` unless it is ours and nobody else can read or write it (the HMAC key sits there)."""
    what = "directory" if kind == "dir" else "file"
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"refusing {path}: it is a symlink, not our private {what}; remove it")
    if not (stat.S_ISDIR(st.st_mode) if kind == "dir" else stat.S_ISREG(st.st_mode)):
        raise UnsafePathError(f"refusing {path}: it is not a {what}; remove it")
    if st.st_uid != os.getuid():
        raise UnsafePathError(
            f"refusing {path}: it is owned by {owner_name(st.st_uid)}, not by you ({owner_name(os.getuid())});"
            " another user may have created it, so remove it or set XDG_RUNTIME_DIR"
        )
    if st.st_mode & 0o077:
        raise UnsafePathError(
            f"refusing {path}: its mode is {stat.S_IMODE(st.st_mode):04o}, so other users can reach it;"
            f" it must be {0o700 if kind == 'dir' else 0o600:04o}"
        )


def _ensure(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def _private_dir(path: Path) -> Path:
    """Create ``path`` 0700 if absent, then verify what is there with lstat (a dir someone else made first, or a
    symlink planted in a shared /tmp, is refused, never used)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    check_private(path, os.lstat(path), "dir")
    return path


def runtime_dir(create: bool = True) -> Path:
    """Sockets, lock and connection file: a private 0700 dir of ours (the connection file holds the HMAC key), or
    UnsafePathError."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        path = Path(base) / APP
        if create:
            Path(base).mkdir(parents=True, exist_ok=True, mode=0o700)
    else:  # no XDG runtime dir (e.g. some SSH sessions): a per-user dir under the shared /tmp
        path = Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"
    if create:
        _private_dir(path)
    return path


def cache_dir(create: bool = True) -> Path:
    """Scan DB, embeddings, built demo models: safe to delete, rebuilt on demand."""
    path = Path(platformdirs.user_cache_dir(APP, appauthor=False))
    return _ensure(path) if create else path


def state_dir(create: bool = True) -> Path:
    """Job journal, review drafts, metadata backups, logs: not safe to delete."""
    path = Path(platformdirs.user_state_dir(APP, appauthor=False))
    return _ensure(path) if create else path


def config_dir(create: bool = False) -> Path:
    path = Path(platformdirs.user_config_dir(APP, appauthor=False))
    return _ensure(path) if create else path


def config_file() -> Path:
    return config_dir() / "config.toml"


def connection_file() -> Path:
    return runtime_dir() / "connection.json"


def lock_file() -> Path:
    return runtime_dir() / "daemon.lock"


def journal_db() -> Path:
    return state_dir() / "journal.sqlite3"


def log_dir() -> Path:
    return _ensure(state_dir() / "logs")


def scan_db(create: bool = True) -> Path:
    return cache_dir(create) / "scan.sqlite3"


def models_cache_dir() -> Path:
    return _ensure(cache_dir() / "models")


def openai_key_file() -> Path:
    """The OpenAI-compatible endpoint's bearer key (0600)."""
    return state_dir() / "openai.key"


def write_private(path: Path, data: str) -> None:
    """Write a 0600 file atomically (never a moment where it exists with wider permissions)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_private(path: Path) -> bytes | None:
    """The bytes of a 0600 file of ours (the connection file), ``None`` if it does not exist; UnsafePathError if it
    is a symlink, another user's, or readable by others (then it was not written by our daemon)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symlink stands where the file should be
        check_private(path, os.lstat(path), "file")
        raise UnsafePathError(f"refusing {path}: cannot open it ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        check_private(path, os.fstat(fh.fileno()), "file")
        return fh.read()


def similarity_db() -> Path:
    return cache_dir() / "similarity.sqlite3"


def mono_db() -> Path:
    """The mono checker's results, by file fingerprint."""
    return cache_dir() / "mono.sqlite3"


def mono_overlays_dir() -> Path:
    """The mono checker's chroma and residual maps: in the cache, never beside the photos."""
    return _ensure(cache_dir() / "mono-overlays")
