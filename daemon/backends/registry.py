"""Which backend serves a model: a plain table by the ``model.backend`` config key.

A plain table (not modules registering themselves at import) so that the interface module imports no backend and
no backend imports the table: no import circles. Backend modules are cheap to import (torch loads inside ``load``).
"""

from __future__ import annotations

from daemon.backends.base import Backend, BackendError
from daemon.backends.echo import EchoBackend
from daemon.backends.vlm import VLMBackend
from imageworks.config import ModelConfig

BACKENDS: dict[str, type[Backend]] = {
    "transformers": VLMBackend,
    "echo": EchoBackend,
}


def is_echo_name(name: str) -> bool:
    """``echo`` and ``echo:OPTIONS`` select the echo backend whatever ``model.backend`` says (tests rely on it)."""
    return name == "echo" or name.startswith("echo:")


def create_backend(model: ModelConfig) -> Backend:
    """The (not yet loaded) backend for ``model``; an unknown ``model.backend`` raises BackendError naming the
    known ones."""
    key = "echo" if is_echo_name(model.name) else model.backend
    try:
        backend = BACKENDS[key]
    except KeyError:
        raise BackendError(f"model.backend {key!r} is not a backend (known: {', '.join(BACKENDS)})") from None
    return backend(model)
