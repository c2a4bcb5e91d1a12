"""Reading a request's image for the model, within a budget: EXIF orientation applied, any mode to RGB, shrunk to
the model's pixel cap while decoding where the format allows (JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale),
and a clear per-item error for a file that is not a readable image or has more pixels than
``model.max_image_pixels`` (refused from the header, before any decoding: a 1.5 MB PNG can claim 529 Mpx).

Full-size decodes in one worker process take turns (``_FULL_DECODE``), so the worker's decode memory is bounded by
one image at the cap (about 4 bytes a pixel at most) plus the shrunk images of a batch, whatever calls it.
"""

from __future__ import annotations

import io
import math
import os
import threading

from imageworks.config import DEFAULT_MAX_IMAGE_PIXELS

_FULL_DECODE = threading.Lock()


class ImageReadError(Exception):
    """One request's image could not be read; that request fails alone."""


def open_image(source: str | bytes, max_pixels: int, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
    """Decode ``source`` (a path, or an image file's bytes) as upright RGB with at most ``max_pixels`` pixels. A
    file with more than
    ``max_image_pixels`` pixels is refused from its header; a huge photo is shrunk while decoding where the format
    allows it (JPEG draft mode) and straight after otherwise; an empty, truncated or unknown file raises
    ImageReadError with a message a person can act on."""
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    Image.MAX_IMAGE_PIXELS = None  # Pillow's bomb guard, replaced by ours below (which names the setting)
    path = "(the request's image)" if isinstance(source, bytes) else source
    try:
        size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise ImageReadError(f"cannot read image {path}: the file is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            width, height = img.size
            if width * height > max_image_pixels:
                raise ImageReadError(
                    f"cannot read image {path}: {width}x{height} is {width * height:,} pixels, more than the "
                    f"{max_image_pixels:,} allowed (model.max_image_pixels)"
                )
            target = _fit(width, height, max_pixels)
            if target != (width, height):
                img.draft("RGB", target)  # JPEG decodes at 1/2, 1/4 or 1/8 scale; other formats ignore this
            with _FULL_DECODE:
                img.load()
                target = _fit(*img.size, max_pixels)
                if img.size != target:
                    img.thumbnail(target, Image.Resampling.BICUBIC, reducing_gap=2.0)  # in the source mode
            # orientation after shrinking: the same pixel count, and no full-size rotated copy
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"cannot read image {path}: not an image format Pillow can decode") from exc
    except PermissionError as exc:  # the daemon's user is not always the photo's owner: say so, not "damaged"
        raise ImageReadError(f"cannot read image {path}: permission denied (for the daemon's user)") from exc
    except MemoryError as exc:
        raise ImageReadError(f"cannot read image {path}: not enough memory to decode it") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the system failed to read it (EIO, EISDIR, ...)
            raise ImageReadError(f"cannot read image {path}: {exc.strerror}") from exc
        raise ImageReadError(f"cannot decode image {path}: {exc} (file damaged or truncated?)") from exc


def _to_rgb(img):
    """RGB for the processor: 16-bit greys scaled (not clipped) to 8 bits, transparency flattened onto white."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L"):
        if img.getextrema()[1] > 255:
            img = img.convert("I").point(lambda v: v / 256)
        img = img.convert("L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if "A" in img.getbands():
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB") if img.mode != "RGB" else img.copy()


def _fit(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))
