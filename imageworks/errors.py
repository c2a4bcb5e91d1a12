"""One exception type per layer, each carrying a message a person can act on and a code a program can act on.

- ``ImageWorksError``: the core's base. Each core package has one subclass (``MetadataError``, ``ScanError``,
  ``ReviewError``, ``ProfileError``, ``SimilarityError``, ``BadJobParams``, ``UnsafePathError``, ``SchemaError``); a
  finer one exists only where a caller catches it apart (``UnknownDraft``, ``Conflict``, ``QueryError``,
  ``ProbeError``).
- ``ConfigError``: the configuration.
- ``ProtocolError``: the wire (a frame that cannot be decoded or verified).
- ``DaemonError``: the daemon. Raised inside it, its ``code`` is the reply's error code; raised in a client, the code
  the daemon answered (or ``not_running``). The daemon's finer types are DaemonErrors that their callers catch apart
  (``WorkerCrashed``, ``WorkerLoadFailed``, ``JournalWriteError``, ``ImageReadError``), or the one type of a part
  with its own wire: ``BackendError`` (inside a model worker, whose failures cross a pipe as text) and ``Refusal``
  (the OpenAI endpoint: an HTTP status and OpenAI's error body).

The daemon answers any ``ImageWorksError`` a handler raises with ``Error(code=err.code, message=str(err))``, so a new
refusal is one ``raise`` and no table to update; anything else is a bug, answered ``internal`` and logged.
"""

from __future__ import annotations


class ImageWorksError(Exception):
    """Base error of ImageWorks. ``str(err)`` is a one-line, user-facing message; ``code`` a short stable word
    (the daemon's reply code when a request fails with it)."""

    code: str = "error"

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(ImageWorksError):
    """The configuration file, an environment variable or a flag holds a bad value."""

    code = "bad_config"


class DaemonError(ImageWorksError):
    """The daemon refused or failed a request (``code`` is the reply's code), or could not be reached."""


class ProtocolError(ImageWorksError):
    """A frame could not be decoded, verified or matched to a message type."""

    code = "bad_request"
