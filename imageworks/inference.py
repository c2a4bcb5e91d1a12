"""Inference requests and results: the data that flows between job logic (core) and model backends (daemon).

Defined in the core so that pure job logic (tagging prompts, parsing) can build requests without importing
torch, and so the worker process can pickle them across its pipe.
"""

from __future__ import annotations

import msgspec


class GenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One prompt, optionally about one image, for a vision-language model."""

    prompt: str
    image: str | None = None
    """Path of the image on the daemon's machine; the worker opens it (a bad image fails this request alone)."""
    system: str | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0
    """0 = greedy decoding; above 0 samples with ``top_p``."""
    top_p: float = 1.0
    ignore_eos: bool = False
    """Generate exactly ``max_new_tokens`` (benchmarks use this for a fixed output length)."""
    seed: int | None = None


class GenResult(msgspec.Struct, kw_only=True):
    """What one request produced. ``error`` set means the request failed and ``text`` is empty."""

    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
