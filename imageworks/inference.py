"""Inference requests and results: the data that flows between job logic (core) and model backends (daemon).

Defined in the core so that pure job logic (tagging prompts, parsing) can build requests without importing
torch, and so the worker process can pickle them across its pipe. Two operations exist: ``generate`` (text from a
prompt and maybe an image) and ``embed`` (one vector per image); a backend declares which it serves.
"""

from __future__ import annotations

from array import array

import msgspec

GENERATE = "generate"
EMBED = "embed"
OPERATIONS = (GENERATE, EMBED)
"""What a backend can declare in its ``capabilities`` and what the worker's pipe carries."""


class ChatPart(msgspec.Struct, frozen=True, kw_only=True):
    """One part of a chat message: text, or an image given as its encoded file bytes (PNG, JPEG, ...)."""

    text: str = ""
    image: bytes | None = None


class ChatTurn(msgspec.Struct, frozen=True, kw_only=True):
    """One message of a conversation: ``role`` is system, user or assistant."""

    role: str
    parts: tuple[ChatPart, ...] = ()


class GenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One prompt, optionally about one image, for a vision-language model; or a whole conversation (``chat``)."""

    prompt: str
    image: str | None = None
    """Path of the image on the daemon's machine; the worker opens it (a bad image fails this request alone)."""
    chat: tuple[ChatTurn, ...] = ()
    """A conversation (the OpenAI endpoint's messages) rendered by the model's chat template; when set, ``prompt``,
    ``image`` and ``system`` are unused."""
    key: str = ""
    """The daemon's id for this request while it runs: its streamed text and a cancel name it (empty: neither)."""
    stream: bool = False
    """Send the text as it grows (the endpoint's ``stream``); the result still holds the whole text."""

    def images(self) -> list[str | bytes]:
        """The request's images in the order its prompt shows them: the chat's image parts, or its one image path."""
        if self.chat:
            return [part.image for turn in self.chat for part in turn.parts if part.image is not None]
        return [self.image] if self.image is not None else []

    system: str | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0
    """0 = greedy decoding; above 0 samples with ``top_p``."""
    top_p: float = 1.0
    ignore_eos: bool = False
    """Generate exactly ``max_new_tokens`` (benchmarks use this for a fixed output length)."""
    seed: int | None = None
    stop: tuple[str, ...] = ()
    """Stop sequences (the endpoint's ``stop``): generation ends at the decoding step whose text holds one; the
    text is returned whole (the endpoint cuts it at ``first_stop``)."""


def first_stop(text: str, stops: list[str] | tuple[str, ...]) -> int | None:
    """Where the first stop sequence starts in ``text``; None when none occurs."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


class GenResult(msgspec.Struct, kw_only=True):
    """What one request produced. ``error`` set means the request failed and ``text`` is empty."""

    text: str = ""
    tokens: int = 0
    prompt_tokens: int = 0
    """The prompt's length in tokens (the endpoint's ``usage``); 0 where a backend does not count it."""
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


CANCELLED = "cancelled"
"""The ``error`` of a request stopped before it finished (its job was cancelled, its HTTP client went away)."""


class EmbedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One image to embed (a path on the daemon's machine; a bad image fails this request alone)."""

    image: str


class EmbedResult(msgspec.Struct, kw_only=True):
    """One image's embedding: ``vector`` holds float32 values in native byte order (a bytes blob pickles and
    crosses the pipe far cheaper than a list of floats; ``numpy.frombuffer(v, numpy.float32)`` reads it without a
    copy). ``error`` set means the request failed and ``vector`` is empty."""

    vector: bytes = b""
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def dim(self) -> int:
        return len(self.vector) // 4

    def floats(self) -> list[float]:
        return array("f", self.vector).tolist()

    @classmethod
    def from_floats(cls, values: list[float], seconds: float = 0.0) -> EmbedResult:
        return cls(vector=array("f", values).tobytes(), seconds=seconds)
