"""The echo backend: no model, answers instantly (or after a set delay). Proves the daemon plumbing.

Name syntax: ``echo`` or ``echo:delay=0.2,load_delay=1,load_steps=5`` — ``delay`` seconds per request (so tests
can kill or cancel mid-job), ``load_delay`` seconds to "load", reported as progress in ``load_steps`` steps. If a
request names an image, the image is opened with Pillow, so a bad image fails that request alone, as it would with
a real model. It embeds too: an image's 4x4 colour thumbnail as a 48-d unit vector (deterministic, no torch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from daemon.backends.base import Backend, BackendError, LoadProgress, no_progress
from daemon.backends.images import ImageReadError, open_image
from imageworks.inference import EMBED, GENERATE, EmbedRequest, EmbedResult, GenRequest, GenResult

THUMBNAIL_SIDE = 4
"""The echo embedding is the RGB thumbnail of this side: 3 * THUMBNAIL_SIDE**2 dimensions (colour and coarse
layout, so differently coloured flat images differ)."""


def parse_echo_options(name: str) -> dict[str, float]:
    options: dict[str, float] = {"delay": 0.0, "load_delay": 0.0, "load_steps": 1.0}
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


class EchoBackend(Backend):
    capabilities = frozenset({GENERATE, EMBED})

    def load(self, progress: LoadProgress = no_progress) -> dict[str, Any]:
        self.options = parse_echo_options(self.model.name)
        steps = max(1, int(self.options["load_steps"]))
        for step in range(steps):
            progress(step / steps, "loading the echo backend")
            time.sleep(self.options["load_delay"] / steps)
        return {"name": self.model.name, "revision": "builtin", "device": "cpu", "dtype": "none", "parameters": 0}

    def generate(self, requests: list[GenRequest], should_stop: Callable[[], bool] = lambda: False) -> list[GenResult]:
        results: list[GenResult] = []
        for request in requests:
            if should_stop():
                results.append(GenResult(error="cancelled"))
                continue
            start = time.perf_counter()
            if self.options["delay"]:
                time.sleep(self.options["delay"])
            described = ""
            if request.image is not None:
                try:
                    described = self.read_image(request.image)
                except ImageReadError as exc:  # any decode failure fails this request alone
                    results.append(GenResult(error=str(exc)))
                    continue
            text = f"echo: {request.prompt}{described}"
            results.append(GenResult(text=text, tokens=len(text.split()), seconds=time.perf_counter() - start))
        return results

    def read_image(self, path: str) -> str:
        """Decode the image as a real backend would (within the same budget); describe it as the file has it."""
        from PIL import Image

        open_image(path, self.model.max_pixels, self.model.max_image_pixels)
        with Image.open(path) as img:
            return f" [{img.width}x{img.height} {img.mode}]"

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
