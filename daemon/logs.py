"""Log lines that a hostile peer could make by the thousand, written at a bounded rate."""

from __future__ import annotations

import logging
import time
from typing import Any


class RateLimitedLog:
    """At most one line per ``every_s``; the next line says how many were left out meanwhile."""

    def __init__(self, logger: logging.Logger, every_s: float) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last = -float("inf")
        self._held = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._held += 1
            return
        if self._held:
            message += f" (and {self._held} more like it in the last {now - self._last:.0f} s)"
        self._last, self._held = now, 0
        self.logger.warning(message, *args)
