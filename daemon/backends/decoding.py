"""What every decode of a worker shares: the byte budget their parallel decodes hold memory within, and the error a
decode that cannot read its file raises (``images.py`` and ``raw.py`` both decode)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from imageworks.errors import DaemonError

DECODE_BUDGET_BYTES = 512 * 2**20
"""Decode memory that parallel decodes in one worker may hold at once (a 24 Mpx JPEG at 1/4 scale holds ~6 MB)."""


class ImageReadError(DaemonError):
    """One request's image could not be read; that request fails alone."""

    code = "bad_image"


class DecodeMemory:
    """A byte budget shared by the decodes of one process: a decode waits while the others hold too much of it; one
    larger than the whole budget waits until it is alone."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.held = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        with self._cond:
            while self.held and self.held + nbytes > self.budget:
                self._cond.wait()
            self.held += nbytes
        try:
            yield
        finally:
            with self._cond:
                self.held -= nbytes
                self._cond.notify_all()


DECODE_MEMORY = DecodeMemory(DECODE_BUDGET_BYTES)
