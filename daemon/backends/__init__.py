"""Model backends: one small interface (``base.Backend``) that the echo and VLM backends meet."""

from __future__ import annotations

from daemon.backends.base import Backend, BackendError, create_backend

__all__ = ["Backend", "BackendError", "create_backend"]
