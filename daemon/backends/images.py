"""Reading a request's image for the model, within a budget: EXIF orientation applied, any mode to RGB, shrunk to
the model's pixel cap while decoding where the format allows (JPEG draft mode decodes at 1/2, 1/4 or 1/8 scale),
and a clear per-item error for a file that is not a readable image or has more pixels than
``model.max_image_pixels`` (refused from the header, before any decoding: a 1.5 MB PNG can claim 529 Mpx).

RAW files go through libraw (``raw.py``: the embedded preview, else a half-size demosaic; never IFD0's thumbnail);
a TIFF holding several images gives its largest (a reduced-resolution first IFD is a thumbnail); HEIC/HEIF open
through pillow-heif where it is installed (``imageworks[heic]``).

Decodes in one worker process run in parallel (the image feed's threads) within a decode memory budget
(``decoding.DECODE_MEMORY``): each holds about 4 bytes a pixel of what it decodes (after draft mode), and one bigger
than the whole budget runs alone. So the worker's decode memory stays under the budget or one image at the cap,
whichever is more, plus the shrunk images kept for a job's later rounds (the feed's own byte budget).
"""

from __future__ import annotations

import io
import math
import os

from imageworks.config import DEFAULT_MAX_IMAGE_PIXELS
from imageworks.scan.records import HEIC_EXTENSIONS, RAW_EXTENSIONS

from .decoding import DECODE_MEMORY, ImageReadError

MAX_FRAMES = 64
"""A multi-image TIFF's images looked at for the largest (a scanner's multi-page file can hold hundreds)."""

_heif_registered: bool | None = None


def heif_available() -> bool:
    """Whether HEIC/HEIF files open (pillow-heif installed: its opener is registered with Pillow once)."""
    global _heif_registered
    if _heif_registered is None:
        try:
            import pillow_heif
        except ImportError:
            _heif_registered = False
        else:
            pillow_heif.register_heif_opener()
            _heif_registered = True
    return _heif_registered


def is_raw_path(path: str) -> bool:
    return path.rpartition(".")[2].lower() in RAW_EXTENSIONS


def open_image(source: str | bytes, max_pixels: int, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
    """Decode ``source`` (a path, or an image file's bytes) as upright RGB with at most ``max_pixels`` pixels. A
    file with more than ``max_image_pixels`` pixels is refused from its header; a huge photo is shrunk while
    decoding where the format allows it (JPEG draft mode) and straight after otherwise; an empty, truncated or
    unknown file raises ImageReadError with a message a person can act on."""
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
    heif_available()
    try:
        if isinstance(source, str) and is_raw_path(source):
            img = _open_raw(source, max_pixels, max_image_pixels)
        else:
            img = _largest_frame(Image.open(io.BytesIO(source) if isinstance(source, bytes) else source))
        with img:
            width, height = img.size
            if width * height > max_image_pixels:
                raise ImageReadError(
                    f"cannot read image {path}: {width}x{height} is {width * height:,} pixels, more than the "
                    f"{max_image_pixels:,} allowed (model.max_image_pixels)"
                )
            target = _fit(width, height, max_pixels)
            if target != (width, height):
                img.draft("RGB", target)  # JPEG decodes at 1/2, 1/4 or 1/8 scale; other formats ignore this
            with DECODE_MEMORY.reserve(img.size[0] * img.size[1] * 4):
                img.load()
                target = _fit(img.size[0], img.size[1], max_pixels)
                if img.size != target:
                    img.thumbnail(target, Image.Resampling.BICUBIC, reducing_gap=2.0)  # in the source mode
            # orientation after shrinking: the same pixel count, and no full-size rotated copy
            img = ImageOps.exif_transpose(img) or img
            return _to_rgb(img)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        if path.rpartition(".")[2].lower() in HEIC_EXTENSIONS and not heif_available():
            raise ImageReadError(
                f"cannot read image {path}: HEIC/HEIF needs pillow-heif (pip install 'imageworks[heic]')"
            ) from exc
        raise ImageReadError(f"cannot read image {path}: not an image format Pillow can decode") from exc
    except PermissionError as exc:  # the daemon's user is not always the photo's owner: say so, not "damaged"
        raise ImageReadError(f"cannot read image {path}: permission denied (for the daemon's user)") from exc
    except MemoryError as exc:
        raise ImageReadError(f"cannot read image {path}: not enough memory to decode it") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the system failed to read it (EIO, EISDIR, ...)
            raise ImageReadError(f"cannot read image {path}: {exc.strerror}") from exc
        raise ImageReadError(f"cannot decode image {path}: {exc} (file damaged or truncated?)") from exc


def _open_raw(path: str, max_pixels: int, max_image_pixels: int):
    from .raw import open_raw  # libraw, imported when a RAW file comes

    return open_raw(path, max_pixels, max_image_pixels, DECODE_MEMORY.reserve)


def _largest_frame(img):
    """A TIFF holding several images (a thumbnail first, the photo after; pages of a scan) at its largest one."""
    frames = getattr(img, "n_frames", 1)
    if img.format != "TIFF" or frames < 2:
        return img
    sizes = []
    for frame in range(min(frames, MAX_FRAMES)):
        img.seek(frame)
        sizes.append((img.size[0] * img.size[1], frame))
    img.seek(max(sizes)[1])
    return img


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
