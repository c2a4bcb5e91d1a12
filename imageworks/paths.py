"""Every filesystem path ImageWorks uses, in one place (XDG through platformdirs).

Tests isolate by setting XDG_RUNTIME_DIR, XDG_CACHE_HOME, XDG_STATE_HOME and XDG_CONFIG_HOME, so every
function here reads the environment at call time rather than caching it at import.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import platformdirs

APP = "imageworks"


def _ensure(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def runtime_dir(create: bool = True) -> Path:
    """Sockets, lock and connection file; always 0700 because the connection file holds the HMAC key."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        path = Path(base) / APP
    else:  # no XDG runtime dir (e.g. some SSH sessions): a per-user dir under /tmp
        path = Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"
    if create:
        _ensure(path)
        os.chmod(path, 0o700)
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


def scan_db() -> Path:
    return cache_dir() / "scan.sqlite3"


def models_cache_dir() -> Path:
    return _ensure(cache_dir() / "models")


def similarity_db() -> Path:
    return cache_dir() / "similarity.sqlite3"
