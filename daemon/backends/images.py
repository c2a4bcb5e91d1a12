"""Reading a request's image for the model: EXIF orientation applied, any mode to RGB, shrunk to a pixel cap while
decoding (draft mode for JPEG), and a clear error for a file that is not a readable image."""

from __future__ import annotations

import io
import math
import os

# Pillow refuses images above ~179 Mpx as decompression bombs; a photographer's stitched panorama can be bigger
# and is legitimate. We decode up to this many pixels (e.g. 23000x23000; ~1.6 GB as RGB) and shrink at once.
MAX_DECODE_PIXELS = 1 << 29


class ImageReadError(Exception):
    """One request's image could not be read; that request fails alone."""


def open_image(source: str | bytes, max_pixels: int):
    """Decode ``source`` (a path, or an image file's bytes) as upright RGB with at most ``max_pixels`` pixels. A
    huge photo is shrunk while decoding where the format allows it (JPEG draft mode) and straight after otherwise;
    an empty, truncated or unknown file raises ImageReadError with a message a person can act on."""
    import warnings

    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_DECODE_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS  # Pillow's bomb guard; ours is the explicit check below
    path = "(the request's image)" if isinstance(source, bytes) else source
    try:
        size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise ImageReadError(f"cannot read image {path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                width, height = img.size
                if width * height > MAX_DECODE_PIXELS:
                    raise ImageReadError(
                        f"cannot read image {path}: {width}x{height} is more than {MAX_DECODE_PIXELS:,} pixels"
                    )
                target = _fit(width, height, max_pixels)
                if target != (width, height):
                    img.draft("RGB", target)  # JPEG decodes at 1/2, 1/4 or 1/8 scale; other formats ignore this
                img.load()
                img = ImageOps.exif_transpose(img) or img  # camera orientation: the model sees it upright
                target = _fit(*img.size, max_pixels)
                if img.size != target:
                    img.thumbnail(target, Image.Resampling.BICUBIC, reducing_gap=2.0)  # in the source mode: cheaper
                return _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"cannot read image {path}: not an image format Pillow can decode") from exc
    except PermissionError as exc:  # the daemon's user is not always the photo's owner: say so, not "damaged"
        raise ImageReadError(f"cannot read image {path}: permission denied (for the daemon's user)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
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
