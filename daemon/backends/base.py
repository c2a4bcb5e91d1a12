"""The interface every model backend meets.

A backend lives inside the model worker process. ``load`` may take seconds to minutes (it may report progress);
``generate`` and ``embed`` take a batch of requests and return one result per request, in order. A backend serves
the operations named in its ``capabilities``; the worker refuses the others per request. A request that cannot be
served (bad image, too long prompt) returns a result with ``error`` set; only a failure of the whole backend raises.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from imageworks.config import ModelConfig
from imageworks.errors import DaemonError
from imageworks.inference import GENERATE, EmbedRequest, EmbedResult, GenRequest, GenResult
from imageworks.protocol import FeedStats

from .feed import ImageFeed

LoadProgress = Callable[[float, str], None]
"""``progress(fraction, what)``: fraction 0..1 (or -1 when unknown) and a short phrase of what is happening."""


def no_progress(fraction: float, what: str) -> None:
    """The default load progress sink: nobody listens."""


class Rows:
    """Per-request control of a batch in progress, given by the worker: ``cancelled(key)`` turns true when that
    request's client went away (it stops at the next step; the batch's other requests go on), ``emit(key, delta)``
    sends a streamed request's new text. This base controls nothing (direct callers, benchmarks)."""

    def cancelled(self, key: str) -> bool:
        return False

    def emit(self, key: str, delta: str) -> None:
        """Nobody listens."""


NO_ROWS = Rows()


class TextStream:
    """The text a streamed request has sent so far. Each ``delta`` is the new end of the stripped text (so the
    deltas add up to the final, stripped text); it is held back while the text is not an extension of what was
    sent (a token that decodes to part of a character)."""

    def __init__(self) -> None:
        self.sent = ""

    def delta(self, text: str) -> str:
        text = text.strip()
        if text.endswith("\ufffd") or not text.startswith(self.sent):
            return ""
        new, self.sent = text[len(self.sent) :], text
        return new


class BackendError(DaemonError):
    """The backend as a whole failed (load failed, model broken); the message is shown to the user. Backends run in
    a worker process or a Ray actor, where this type's name travels in the failure's text."""

    code = "model_error"


class Backend(abc.ABC):
    """A loaded model. Made by ``registry.create_backend``; ``load`` is called once before any request."""

    capabilities: frozenset[str] = frozenset({GENERATE})
    """The operations (imageworks.inference.OPERATIONS) this backend serves."""

    feed: ImageFeed | None = None
    """Where a backend that reads images gets them: decoded once per photo per job, ahead of its batch."""

    def __init__(self, model: ModelConfig) -> None:
        self.model = model

    def prefetch(self, images: list[str]) -> None:
        """A coming batch holds these images: decode them ahead (returns at once)."""
        if self.feed is not None:
            self.feed.prefetch(images)

    def forget(self, images: list[str]) -> None:
        """Their items finished: drop what was kept of these images."""
        if self.feed is not None:
            self.feed.forget(images)

    def feed_stats(self) -> FeedStats:
        return self.feed.snapshot() if self.feed is not None else FeedStats()

    @abc.abstractmethod
    def load(self, progress: LoadProgress = no_progress) -> dict[str, Any]:
        """Load weights; return info: at least ``name``, ``revision``, ``device``, ``dtype``, ``parameters``."""

    def generate(
        self, requests: list[GenRequest], should_stop: Callable[[], bool] = lambda: False, rows: Rows = NO_ROWS
    ) -> list[GenResult]:
        """Run a batch. ``should_stop`` returning True asks the backend to stop early (job cancelled);
        unfinished requests then come back with ``error='cancelled'``; ``rows`` does the same for one request
        and takes streamed text. Only for backends declaring ``generate``."""
        raise BackendError(f"{type(self).__name__} does not generate text")

    def embed(self, requests: list[EmbedRequest], should_stop: Callable[[], bool] = lambda: False) -> list[EmbedResult]:
        """One L2-normalised vector per image, in order. Only for backends declaring ``embed``."""
        raise BackendError(f"{type(self).__name__} does not embed images")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the worker process exits after this anyway."""
