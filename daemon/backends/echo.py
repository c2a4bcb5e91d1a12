"""The echo backend: no model, answers instantly (or after a set delay). Proves the daemon plumbing.

Name syntax: ``echo`` or ``echo:delay=0.2,load_delay=1,load_steps=5`` — ``delay`` seconds per request (so tests
can kill or cancel mid-job), ``step_delay`` seconds per word of the answer (a "decoding step": a streamed request
gets its words one by one, and a dropped one stops at the next word), ``load_delay`` seconds to "load", reported as
progress in ``load_steps`` steps. If a request names an image, the image is read through the image feed as a real
model's is (decoded once per photo per job, ahead of its batch), so a bad image fails that request alone. It
embeds too: an image's 4x4 colour thumbnail as a 48-d unit vector (deterministic, no torch).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from typing import Any

from imageworks.inference import (
    CANCELLED,
    EMBED,
    GENERATE,
    EmbedRequest,
    EmbedResult,
    GenRequest,
    GenResult,
    first_stop,
)

from .base import NO_ROWS, Backend, BackendError, LoadProgress, Rows, TextStream, no_progress
from .feed import ImageFeed, Prepared
from .images import ImageReadError, open_image

THUMBNAIL_SIDE = 4
"""The echo embedding is the RGB thumbnail of this side: 3 * THUMBNAIL_SIDE**2 dimensions (colour and coarse
layout, so differently coloured flat images differ)."""


def parse_echo_options(name: str) -> dict[str, float]:
    options: dict[str, float] = {"delay": 0.0, "step_delay": 0.0, "load_delay": 0.0, "load_steps": 1.0}
    if ":" not in name:
        return options
    for part in name.split(":", 1)[1].split(","):
        if not part:
            continue
        key, _, value = part.partition("=")
        if key not in options:
            raise BackendError(f"echo backend: unknown option {key!r} (known: {', '.join(options)})")
        try:
            options[key] = float(value)
        except ValueError as exc:
            raise BackendError(f"echo backend: option {key} needs a number, got {value!r}") from exc
    return options


def thumbnail_vector(path: str) -> list[float]:
    """The image as an L2-normalised RGB thumbnail (values shifted by one so a black image is not a zero vector)."""
    from PIL import Image

    with Image.open(path) as img:
        thumb = img.convert("RGB").resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
        values = [channel + 1.0 for channel in thumb.tobytes()]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def echo_prompt(request: GenRequest) -> str:
    """What the echo answers to: the prompt, or the text of a conversation's last user message."""
    users = [turn for turn in request.chat if turn.role == "user"]
    if users:
        return " ".join(part.text for part in users[-1].parts if part.text)
    return request.prompt


class EchoBackend(Backend):
    capabilities = frozenset({GENERATE, EMBED})

    def load(self, progress: LoadProgress = no_progress) -> dict[str, Any]:
        self.options = parse_echo_options(self.model.name)
        self.feed = ImageFeed(self.prepare_image, budget_bytes=self.model.input_cache_mb * 2**20)
        steps = max(1, int(self.options["load_steps"]))
        for step in range(steps):
            progress(step / steps, "loading the echo backend")
            time.sleep(self.options["load_delay"] / steps)
        return {"name": self.model.name, "revision": "builtin", "device": "cpu", "dtype": "none", "parameters": 0}

    def generate(
        self, requests: list[GenRequest], should_stop: Callable[[], bool] = lambda: False, rows: Rows = NO_ROWS
    ) -> list[GenResult]:
        results: list[GenResult] = []
        for request in requests:
            if should_stop() or (request.key and rows.cancelled(request.key)):
                results.append(GenResult(error=CANCELLED))
                continue
            start = time.perf_counter()
            if self.options["delay"]:
                time.sleep(self.options["delay"])
            assert self.feed is not None  # made by load()
            prepared = self.feed.take(request.images())
            failed = next((p for p in prepared if isinstance(p, ImageReadError)), None)
            if failed is not None:  # any decode failure fails this request alone
                results.append(GenResult(error=str(failed)))
                continue
            described = "".join(p.note for p in prepared if isinstance(p, Prepared))
            prompt = echo_prompt(request)
            text = self._decode_words(request, f"echo: {prompt}{described}", should_stop, rows)
            if text is None:
                results.append(GenResult(error=CANCELLED))
                continue
            results.append(
                GenResult(
                    text=text,
                    tokens=len(text.split()),
                    prompt_tokens=len(prompt.split()),
                    seconds=time.perf_counter() - start,
                )
            )
        return results

    def _decode_words(self, request: GenRequest, text: str, should_stop: Callable[[], bool], rows: Rows) -> str | None:
        """Give out ``text`` a word per step (streamed when asked), up to the step whose text holds one of the
        request's stop sequences; None when stopped or dropped on the way."""
        stream = TextStream()
        words = text.split(" ")
        for n in range(1, len(words) + 1):
            if self.options["step_delay"]:
                time.sleep(self.options["step_delay"])
                if should_stop() or (request.key and rows.cancelled(request.key)):
                    return None
            so_far = " ".join(words[:n])
            if request.stream and request.key:
                delta = stream.delta(so_far)
                if delta:
                    rows.emit(request.key, delta)
            if request.stop and first_stop(so_far, request.stop) is not None:
                return so_far
        return text

    def prepare_image(self, source: str | bytes) -> Prepared:
        """Decode the image as a real backend would (within the same budget); describe it as the file has it (as
        its header says, or, for a RAW file Pillow cannot open, as the model sees it)."""
        from PIL import Image

        image = open_image(source, self.model.max_pixels, self.model.max_image_pixels)
        try:
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                note = f" [{img.width}x{img.height} {img.mode}]"
        except Exception:
            note = f" [{image.width}x{image.height} {image.mode}]"
        return Prepared(image, image.width * image.height * 3, note)

    def embed(self, requests: list[EmbedRequest], should_stop: Callable[[], bool] = lambda: False) -> list[EmbedResult]:
        results: list[EmbedResult] = []
        for request in requests:
            if should_stop():
                results.append(EmbedResult(error="cancelled"))
                continue
            start = time.perf_counter()
            if self.options["delay"]:
                time.sleep(self.options["delay"])
            try:
                vector = thumbnail_vector(request.image)
            except Exception as exc:  # any decode failure fails this request alone
                results.append(EmbedResult(error=f"cannot read image: {type(exc).__name__}: {exc}"))
                continue
            results.append(EmbedResult.from_floats(vector, seconds=time.perf_counter() - start))
        return results
