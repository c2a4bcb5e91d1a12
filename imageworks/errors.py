"""One exception type per layer, each carrying a message a person can act on."""

from __future__ import annotations


class ImageWorksError(Exception):
    """Base error of the core. ``str(err)`` is a one-line, user-facing message."""


class ConfigError(ImageWorksError):
    """The configuration file, an environment variable or a flag holds a bad value."""


class DaemonError(ImageWorksError):
    """The daemon could not be reached or answered with an error."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


class ProtocolError(ImageWorksError):
    """A frame could not be decoded, verified or matched to a message type."""
