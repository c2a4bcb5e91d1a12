"""RAW files for the model: the camera's own embedded preview when it is big enough, else a half-size demosaic,
both through libraw (rawpy), upright.

Pillow opens a NEF, ARW or DNG as a TIFF and hands over IFD0, for most cameras a 160-256 px thumbnail, and cannot
open CR3 at all; libraw reads all of them (CR3 included) and ``extract_thumb`` returns the biggest preview the file
carries (a full-size or 1-2 Mpx JPEG for most cameras), which is what Lightroom and darktable show until they render.
A preview is used when it has at least the pixels the model will see (``model.max_pixels``, or what a half-size
demosaic would give, whichever is fewer) and is bigger than a thumbnail; otherwise the mosaic is demosaiced at half
size (camera white balance, sRGB, 8 bits). IFD0's thumbnail is never what the model sees.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .decoding import ImageReadError

THUMBNAIL_SIDE = 256
"""The longest side a RAW file's thumbnail has (DNG recommends 256 px, NEF's IFD0 is 160): never shown to the model."""

EXIF_ORIENTATION = 0x0112
LIBRAW_FLIP_TO_EXIF = {0: 1, 3: 3, 5: 8, 6: 6}
"""libraw's ``sizes.flip`` (as dcraw counts it) as the EXIF orientation it means."""


def open_raw(
    path: str, max_pixels: int, max_image_pixels: int, reserve: Callable[[int], AbstractContextManager[Any]]
) -> Any:
    """The picture of the RAW file at ``path`` as a PIL image, not yet shrunk to ``max_pixels`` (an embedded JPEG is
    not even decoded yet: the caller decodes it at a reduced scale) and carrying the EXIF orientation it is viewed
    at. ``reserve(nbytes)`` holds decode memory while the mosaic is demosaiced. Raises ImageReadError (the file is
    not a RAW file libraw reads, or its sensor has more than ``max_image_pixels`` pixels)."""
    import rawpy

    try:
        raw = rawpy.imread(path)
    except rawpy.LibRawFileUnsupportedError as exc:
        raise ImageReadError(f"cannot decode RAW file {path}: not a RAW format libraw can read") from exc
    except (rawpy.LibRawError, OSError) as exc:
        raise ImageReadError(f"cannot decode RAW file {path}: libraw: {exc}") from exc
    with raw:
        sizes = raw.sizes
        pixels = sizes.raw_width * sizes.raw_height
        if pixels > max_image_pixels:
            raise ImageReadError(
                f"cannot read image {path}: {sizes.raw_width}x{sizes.raw_height} is {pixels:,} pixels, more than "
                f"the {max_image_pixels:,} allowed (model.max_image_pixels)"
            )
        half = (sizes.width // 2) * (sizes.height // 2)
        preview = embedded_preview(raw, min(max_pixels, half))
        if preview is not None:
            return oriented(preview, sizes.flip)
        try:
            with reserve(pixels * 2 + half * 3):  # the mosaic in 16 bits, the half-size picture in 8
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)  # applies the flip itself
        except rawpy.LibRawError as exc:
            raise ImageReadError(f"cannot decode RAW file {path}: libraw could not demosaic it: {exc}") from exc
    from PIL import Image

    return Image.fromarray(rgb)


def embedded_preview(raw: Any, enough: int) -> Any | None:
    """The file's biggest preview as a PIL image when it has at least ``enough`` pixels and is bigger than a
    thumbnail; None otherwise (no preview, an unsupported one, or too small)."""
    import rawpy
    from PIL import Image

    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:  # no thumbnail, an unsupported one, or a damaged one: demosaic instead
        return None
    image: Any
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = Image.open(io.BytesIO(thumb.data))
    else:
        image = Image.fromarray(thumb.data)
    if max(image.size) <= THUMBNAIL_SIDE or image.width * image.height < enough:
        return None
    return image


def oriented(image: Any, flip: int) -> Any:
    """The preview with the orientation it is viewed at: its own EXIF orientation (libraw writes the RAW's into
    the JPEG it returns), else the RAW's (the caller's ``exif_transpose`` turns it)."""
    exif = image.getexif()  # cached on the image: what exif_transpose reads
    if EXIF_ORIENTATION not in exif:
        exif[EXIF_ORIENTATION] = LIBRAW_FLIP_TO_EXIF.get(flip, 1)
    return image
