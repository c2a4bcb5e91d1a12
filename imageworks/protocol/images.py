"""Image messages: a preview of a photo on the daemon's machine, for a client that cannot read the photos itself (a
TUI on a laptop, the daemon on a GPU box reached with `imageworks --ssh HOST`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

THUMBNAIL_MAX_PX = 1024
"""The largest side a thumbnail may be asked at: a reply stays a few hundred kB at most, whatever the photo."""


class ImageThumbnail(msgspec.Struct, kw_only=True):
    """A JPEG of ``path`` (on the daemon's machine) whose longer side is at most ``max_px``, upright as its EXIF
    orientation says; the daemon keeps the latest ones in memory (a second ask costs no decode)."""

    path: str
    max_px: Annotated[int, msgspec.Meta(ge=16, le=THUMBNAIL_MAX_PX)] = 512


class Thumbnail(msgspec.Struct, kw_only=True):
    """The reply to ``image.thumbnail``."""

    jpeg: bytes
    width: int
    height: int
    cached: bool = False
    """Served from the daemon's cache (no decode)."""


IMAGE_REQUEST_TYPES: dict[str, type[msgspec.Struct]] = {"image.thumbnail": ImageThumbnail}
IMAGE_REPLY_TYPES: dict[str, type[msgspec.Struct]] = {"image.jpeg": Thumbnail}
