"""The echo backend: no model, answers instantly (or after a set delay). Proves the daemon plumbing.

Name syntax: ``echo`` or ``echo:delay=0.2,load_delay=1`` — ``delay`` seconds per request (so tests can kill
or cancel mid-job), ``load_delay`` seconds to "load". If a request names an image, the image is opened with
Pillow, so a bad image fails that request alone, as it would with a real model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from daemon.backends.base import Backend, BackendError
from imageworks.inference import GenRequest, GenResult


def parse_echo_options(name: str) -> dict[str, float]:
    options: dict[str, float] = {"delay": 0.0, "load_delay": 0.0}
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


class EchoBackend(Backend):
    def load(self) -> dict[str, Any]:
        self.options = parse_echo_options(self.model.name)
        time.sleep(self.options["load_delay"])
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
                    from PIL import Image

                    with Image.open(request.image) as img:
                        img.load()
                        described = f" [{img.width}x{img.height} {img.mode}]"
                except Exception as exc:  # any decode failure fails this request alone
                    results.append(GenResult(error=f"cannot read image: {type(exc).__name__}: {exc}"))
                    continue
            text = f"echo: {request.prompt}{described}"
            results.append(GenResult(text=text, tokens=len(text.split()), seconds=time.perf_counter() - start))
        return results
