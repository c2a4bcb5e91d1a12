"""image.thumbnail: a bounded JPEG of a photo on this machine, for a client that cannot read the photos itself (a
TUI reached through `imageworks --ssh`). Decoded off the loop; the latest ones are kept in memory, keyed by the
file's size and mtime, so stepping back and forth through a review decodes each photo once."""

from __future__ import annotations

import asyncio
import io
import os
from collections import OrderedDict

from imageworks import protocol as P
from imageworks.errors import DaemonError

from ..backends.images import ImageReadError, open_image
from . import Handler

CACHE_BYTES = 64 * 1024 * 1024
"""The most JPEG bytes the thumbnail cache holds (a 512 px thumbnail is ~30-60 kB: a thousand or more)."""
JPEG_QUALITY = 85

ThumbKey = tuple[str, int, int, int]


def render_thumbnail(path: str, max_px: int, max_image_pixels: int) -> tuple[bytes, int, int]:
    """The JPEG of ``path``, upright, its longer side at most ``max_px``; ImageReadError for what cannot be read."""
    from PIL import Image

    img = open_image(path, max_px * max_px, max_image_pixels)  # shrunk while decoding where the format allows
    img.thumbnail((max_px, max_px), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue(), img.width, img.height


class ImageHandlers:
    def __init__(self, counters: P.Counters, max_image_pixels: int, cache_bytes: int = CACHE_BYTES) -> None:
        self.counters = counters
        self.max_image_pixels = max_image_pixels
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[ThumbKey, P.Thumbnail] = OrderedDict()
        self._held = 0

    def table(self) -> dict[str, Handler]:
        return {"image.thumbnail": self.on_thumbnail}

    async def on_thumbnail(self, body: P.ImageThumbnail) -> P.Thumbnail:
        try:
            st = os.stat(body.path)
        except OSError as exc:
            raise DaemonError(f"cannot read image {body.path}: {exc.strerror or exc}", code="bad_image") from exc
        key = (body.path, st.st_size, st.st_mtime_ns, body.max_px)
        self.counters.thumbnails += 1
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return P.Thumbnail(jpeg=hit.jpeg, width=hit.width, height=hit.height, cached=True)
        try:
            jpeg, width, height = await asyncio.to_thread(
                render_thumbnail, body.path, body.max_px, self.max_image_pixels
            )
        except ImageReadError as exc:
            raise DaemonError(str(exc), code="bad_image") from exc
        thumb = P.Thumbnail(jpeg=jpeg, width=width, height=height)
        self._keep(key, thumb)
        return thumb

    def _keep(self, key: ThumbKey, thumb: P.Thumbnail) -> None:
        self._cache[key] = thumb
        self._held += len(thumb.jpeg)
        while self._held > self.cache_bytes and self._cache:
            _, dropped = self._cache.popitem(last=False)
            self._held -= len(dropped.jpeg)
