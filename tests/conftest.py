"""Shared fixtures. Every test runs under its own temp XDG dirs, so no test sees a user's config, cache,
journal or running daemon."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def xdg(monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    # ipc socket paths must stay under ~107 bytes, so the runtime dir lives in a short /tmp path
    root = Path(tempfile.mkdtemp(prefix="iw-"))
    dirs = {}
    for name in ("RUNTIME", "CACHE", "STATE", "CONFIG"):
        path = root / name.lower()
        path.mkdir(mode=0o700)
        monkeypatch.setenv(f"XDG_{name}_HOME" if name != "RUNTIME" else "XDG_RUNTIME_DIR", str(path))
        dirs[name.lower()] = path
    for key in list(os.environ):
        if key.startswith("IMAGEWORKS_"):
            monkeypatch.delenv(key)
    yield dirs
    shutil.rmtree(root, ignore_errors=True)
