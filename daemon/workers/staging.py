"""Images as bytes, for a worker that cannot read the daemon's paths (a Ray actor on a host without a shared
filesystem): the daemon reads each request's image (one it cannot read fails that request alone, naming the
photo), and the worker stages the bytes as temporary files for the batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec


def read_images(requests: list[Any]) -> tuple[list[bytes | None], dict[int, str]]:
    """Each request's image bytes (None for a request without an image), and the error of each image the daemon
    cannot read, by request index (that request fails alone, as it would in the worker)."""
    images: list[bytes | None] = []
    unreadable: dict[int, str] = {}
    for n, request in enumerate(requests):
        data = None
        if request.image:
            try:
                data = Path(request.image).read_bytes()
            except OSError as exc:
                unreadable[n] = f"cannot read image {request.image}: {exc.strerror or exc}"
        images.append(data)
    return images, unreadable


def stage_images(requests: list[Any], images: list[bytes | None], folder: Path) -> list[tuple[Any, str]]:
    """Write each request's image bytes into ``folder`` (keeping the file's suffix) and point the request at the
    copy; returns (request, original path or '') pairs."""
    staged: list[tuple[Any, str]] = []
    for n, (request, data) in enumerate(zip(requests, images, strict=True)):
        if data is None:
            staged.append((request, ""))
            continue
        copy = folder / f"{n}{Path(request.image).suffix}"
        copy.write_bytes(data)
        staged.append((msgspec.structs.replace(request, image=str(copy)), request.image))
    return staged
