"""Decode a photo at the analysis size and turn it into CIELAB (float32), colour-managed after downscaling.

JPEGs are decoded with libjpeg's DCT scaling (``Image.draft``: 1/2, 1/4 or 1/8 of the size, the cheapest decode
that still covers the analysis size), then box-resized; only then does the embedded ICC profile convert the few
remaining pixels to sRGB (sRGB is assumed, and recorded, when there is none). Lab is computed here in float32 from
sRGB through a linearising table (OpenCV's uint8 Lab is off by up to ~0.9 in a*, which matters against 2.0).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms, ImageFilter, ImageOps

from imageworks.errors import ImageWorksError
from imageworks.mono import thresholds as T

Image.MAX_IMAGE_PIXELS = None  # large scans are our users' everyday files; we decode them reduced anyway

_ORIENTATION = 0x0112
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


class DecodeError(ImageWorksError):
    """The file is not an image Pillow can read (one line: what it is and why)."""


@dataclass(frozen=True)
class LabImage:
    """The analysed picture: float32 L*, a*, b* planes (H×W), which pixels count, and how it was read."""

    L: np.ndarray
    a: np.ndarray
    b: np.ndarray
    valid: np.ndarray
    """False where the photo is transparent."""
    size: tuple[int, int]
    """The photo's own (width, height), after its EXIF orientation."""
    colour_space: str
    """``embedded ICC: <description>``, ``sRGB (assumed: no profile)``, ``greyscale``, ..."""
    greyscale: bool
    """The file stores one channel: it cannot hold colour."""
    rgb: np.ndarray
    """The analysed pixels in sRGB (uint8, H×W×3), for overlays and the narrator's picture."""


_SRGB_TO_LINEAR = np.array(
    [(v / 255 / 12.92) if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in range(256)], dtype=np.float32
)
_RGB_TO_XYZ_D65 = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=np.float32,
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def _lab_f(t: np.ndarray) -> np.ndarray:
    """CIELAB's f(t): the cube root, with its linear toe for the darkest values."""
    return np.where(t > 216 / 24389, np.cbrt(t), t * (24389 / 27 / 116) + 16 / 116)


_F_STEPS = 1 << 16
_F_TABLE = _lab_f(np.arange(_F_STEPS + 2, dtype=np.float64) / _F_STEPS).astype(np.float32)
"""f(t) at 1/65536 steps of t (X/Xn, Y/Yn, Z/Zn in 0..1): looking it up beats a cube root per pixel, and errs by
under 0.06 in a* at the darkest L* that counts (6), 0.01 above L* 20."""
_SHARE = [
    [
        (
            _SRGB_TO_LINEAR * (_RGB_TO_XYZ_D65[out, channel] / _WHITE_D65[out] * _F_STEPS)
            + (0.5 if channel == 0 else 0)
        ).astype(np.float32)
        for channel in range(3)
    ]
    for out in range(3)
]
"""_SHARE[x|y|z][r|g|b][value]: each 8-bit value's share of X/Xn, Y/Yn, Z/Zn in table steps (the red table carries
the 0.5 that rounds): a pixel's XYZ is nine look-ups and six additions."""


def _f_of(planes: tuple[np.ndarray, np.ndarray, np.ndarray], out: int) -> np.ndarray:
    r, g, b = planes
    steps = _SHARE[out][0][r]
    steps += _SHARE[out][1][g]
    steps += _SHARE[out][2][b]
    np.clip(steps, 0, _F_STEPS + 1, out=steps)
    return _F_TABLE[steps.astype(np.int32)]


def srgb_to_lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CIELAB (D65) planes of an H×W×3 uint8 sRGB array, in float32. Equal R, G, B give a* = b* = 0 exactly."""
    planes = (
        np.ascontiguousarray(rgb[..., 0]),
        np.ascontiguousarray(rgb[..., 1]),
        np.ascontiguousarray(rgb[..., 2]),
    )
    fx, fy, fz = _f_of(planes, 0), _f_of(planes, 1), _f_of(planes, 2)
    L = fy * np.float32(116)
    L -= np.float32(16)
    a = fx - fy
    a *= np.float32(500)
    b = fy - fz
    b *= np.float32(200)
    return L, a, b


def grey_to_L(grey: np.ndarray) -> np.ndarray:
    """L* of 8-bit grey values read as sRGB grey."""
    return _GREY_L[grey]


_GREY_L = (116 * _lab_f(_SRGB_TO_LINEAR.astype(np.float64)) - 16).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _transform(icc_digest: str, icc: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform, str]:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    description = (ImageCms.getProfileDescription(source) or "unnamed").strip()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    transform = ImageCms.buildTransform(source, srgb, mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL)
    return transform, description


def _to_srgb(im: Image.Image) -> tuple[Image.Image, str]:
    """The image in 8-bit sRGB, through its embedded profile when it has one."""
    icc = im.info.get("icc_profile")
    mode = "RGB" if im.mode not in ("RGB", "CMYK") else im.mode
    if mode != im.mode:
        im = im.convert(mode)
    if icc:
        try:
            transform, description = _transform(hashlib.sha1(icc).hexdigest(), icc, mode)
            converted = ImageCms.applyTransform(im, transform)
            assert converted is not None  # None only for a transform in place
            return converted, f"embedded ICC: {description}"
        except (OSError, ImageCms.PyCMSError, ValueError) as exc:
            note = f"embedded ICC unreadable ({str(exc).strip() or type(exc).__name__}); sRGB assumed"
            return im.convert("RGB"), note
    if mode == "CMYK":
        return im.convert("RGB"), "CMYK without a profile: naive conversion"
    return im, "sRGB (assumed: no profile)"


def _analysis_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_lab(path: str | os.PathLike[str], long_side: int = T.ANALYSIS_LONG_SIDE) -> LabImage:
    """The photo at ``long_side`` pixels (never enlarged), in Lab. Raises DecodeError with one line."""
    name = os.fspath(path)
    try:
        with Image.open(name) as im:
            own_size = im.size
            if im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):  # stored on its side: shown the other way
                own_size = (own_size[1], own_size[0])
            if im.format == "JPEG" and im.mode in ("RGB", "L", "CMYK"):
                im.draft(im.mode, _analysis_size(im.size, long_side))
            im.load()
            im = ImageOps.exif_transpose(im)
            return _lab_of(im, long_side, own_size)
    except DecodeError:
        raise
    except FileNotFoundError:
        raise DecodeError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DecodeError(f"{name}: is a directory") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"{name}: cannot read it as an image ({str(exc).strip() or type(exc).__name__})") from exc


def _lab_of(im: Image.Image, long_side: int, own_size: tuple[int, int]) -> LabImage:
    alpha = None
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (im.mode == "P" and "transparency" in im.info):
        alpha = im.convert("RGBA").getchannel("A")
    size = _analysis_size(im.size, long_side)
    if im.mode in GREY_MODES:
        grey = im.convert("L") if im.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I") else _grey16(im)
        if grey.size != size:
            grey = grey.resize(size, Image.Resampling.BOX)
        g = np.asarray(_smoothed(grey), dtype=np.uint8)
        L = grey_to_L(g)
        zeros = np.zeros_like(L)
        rgb = np.repeat(g[:, :, None], 3, axis=2)
        return LabImage(L, zeros, zeros.copy(), _valid(alpha, size), own_size, "greyscale", True, rgb)
    if im.mode not in ("RGB", "CMYK"):
        im = im.convert("RGB")
    if im.size != size:
        im = im.resize(size, Image.Resampling.BOX)
    srgb, colour_space = _to_srgb(im)
    rgb = np.asarray(_smoothed(srgb.convert("RGB")), dtype=np.uint8)
    L, a, b = srgb_to_lab(rgb)
    return LabImage(L, a, b, _valid(alpha, size), own_size, colour_space, False, rgb)


def _smoothed(im: Image.Image) -> Image.Image:
    """Box-averaged over (2r+1)² pixels in sRGB: JPEG's chroma noise and colour grain average out, a patch of
    colour does not; L*, a*, b* then come from the same averaged pixels, so an edge's mix of two tones stays a
    colour between them."""
    return im.filter(ImageFilter.BoxBlur(T.SMOOTH_RADIUS)) if T.SMOOTH_RADIUS > 0 else im


def _grey16(im: Image.Image) -> Image.Image:
    values = np.asarray(im, dtype=np.float64)
    top = 65535.0 if values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")


def _valid(alpha: Image.Image | None, size: tuple[int, int]) -> np.ndarray:
    if alpha is None:
        return np.ones((size[1], size[0]), dtype=bool)
    if alpha.size != size:
        alpha = alpha.resize(size, Image.Resampling.BOX)
    return np.asarray(alpha) >= 128
