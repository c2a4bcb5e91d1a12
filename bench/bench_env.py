"""Benchmarks run under their own temp XDG dirs (never the user's daemon, config or caches)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def isolated_xdg(prefix: str, **env: str) -> Path:
    """Make ``run/cache/state/config`` (0700) in a new temp dir, point the XDG variables at them, set ``env``."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    for name in ("run", "cache", "state", "config"):
        (root / name).mkdir(mode=0o700)
    os.environ.update(
        XDG_RUNTIME_DIR=str(root / "run"),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CONFIG_HOME=str(root / "config"),
        **env,
    )
    return root
