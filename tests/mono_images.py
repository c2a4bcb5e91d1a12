"""Pictures for the mono checker's tests and calibration: grey scenes (synthetic, or scikit-image's greyscale sample
photos), toned through CIELAB or Pillow's colorize, spotted, panelled, bordered, grained, vignetted, saved by Pillow.

Every maker returns float sRGB in 0..1 (H×W×3) or grey in 0..1 (H×W); ``save`` writes a real JPEG/PNG/TIFF file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import color, data
from skimage.transform import resize

RED = (0.80, 0.10, 0.10)
BLUE = (0.10, 0.25, 0.85)
GREEN = (0.15, 0.60, 0.20)
SAMPLES = ("camera", "moon", "coins", "brick", "grass", "clock")
"""scikit-image's greyscale photographs (shipped in its wheel: nothing is downloaded)."""


def scene(width: int = 1536, height: int = 1024, seed: int = 0) -> np.ndarray:
    """A grey scene with the whole tonal range: a diagonal gradient, discs and bars of other greys, fine texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grey = 0.08 + 0.84 * (x / width * 0.6 + y / height * 0.4)
    for _ in range(9):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.04, 0.15) * width
        grey = np.where((x - cx) ** 2 + (y - cy) ** 2 < radius**2, rng.uniform(0.05, 0.95), grey)
    for _ in range(5):
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        grey = np.where(
            (x > x0) & (x < x0 + rng.uniform(0.05, 0.2) * width) & (y > y0) & (y < y0 + 0.05 * height),
            rng.uniform(0.05, 0.95),
            grey,
        )
    grey = grey + 0.03 * np.sin(x / 7.0) * np.sin(y / 11.0)
    return np.clip(grey, 0, 1)


def sample(name: str, width: int = 1536, height: int = 1024) -> np.ndarray:
    """A scikit-image greyscale sample photo resized to ``width``×``height`` (grey, 0..1)."""
    grey = getattr(data, name)().astype(np.float32)
    grey = grey / 255.0 if grey.max() > 1 else grey
    return resize(grey, (height, width), order=1, anti_aliasing=False).astype(np.float32)


def neutral(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def toned(grey: np.ndarray, hue: float = 68.0, chroma: float = 14.0) -> np.ndarray:
    """A global tone through CIELAB: each pixel's L* kept, a*, b* a function of L* alone (strongest in the mids)."""
    lab = color.rgb2lab(neutral(grey))
    L = lab[..., 0]
    strength = chroma * np.abs(np.sin(np.pi * np.clip(L, 0, 100) / 100)) ** 0.7
    lab[..., 1] = strength * math.cos(math.radians(hue))
    lab[..., 2] = strength * math.sin(math.radians(hue))
    return np.clip(color.lab2rgb(lab), 0, 1)


def colorized(grey: np.ndarray, mid: str = "#a0784a") -> np.ndarray:
    """Pillow's colorize (black → ``mid`` → white): how many editors tone a print."""
    im = Image.fromarray(np.round(grey * 255).astype(np.uint8), "L")
    out = ImageOps.colorize(im, black="black", white="white", mid=mid)
    return np.asarray(out, dtype=np.float32) / 255.0


def split_toned(grey: np.ndarray, shadow_hue: float = 260.0, highlight_hue: float = 70.0) -> np.ndarray:
    """Cool shadows, warm highlights: the hue follows L*."""
    lab = color.rgb2lab(neutral(grey))
    L = lab[..., 0]
    strength = 12 * np.abs(np.sin(np.pi * np.clip(L, 0, 100) / 100)) ** 0.7
    hue = np.radians(np.where(L < 50, shadow_hue, highlight_hue))
    lab[..., 1] = strength * np.cos(hue)
    lab[..., 2] = strength * np.sin(hue)
    return np.clip(color.lab2rgb(lab), 0, 1)


def disc_mask(shape: tuple[int, int], share: float, centre: tuple[float, float]) -> np.ndarray:
    """A disc covering ``share`` of the frame, centred at (x, y) given as fractions of the width and height."""
    h, w = shape
    radius = math.sqrt(share * h * w / math.pi)
    y, x = np.mgrid[0:h, 0:w]
    return (x - centre[0] * w) ** 2 + (y - centre[1] * h) ** 2 <= radius**2


def spot(rgb: np.ndarray, share: float, colour=RED, centre=(0.25, 0.3), shaded: bool = True) -> np.ndarray:
    """Paint a coloured disc (shaded by the picture's own lightness, as a spot-coloured object is)."""
    out = rgb.copy()
    mask = disc_mask(rgb.shape[:2], share, centre)
    shade = 0.6 + 0.6 * rgb[..., 0:1] if shaded else np.ones_like(rgb[..., 0:1])
    painted = np.clip(np.asarray(colour, dtype=np.float32) * shade, 0, 1)
    out[mask] = painted[mask]
    return out


def panel(grey: np.ndarray, box: tuple[float, float, float, float], hue: float = 20.0, chroma: float = 14.0):
    """A neutral picture with one rectangle (x0, y0, x1, y1 as fractions) toned."""
    out = neutral(grey)
    h, w = grey.shape
    x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    out[y0:y1, x0:x1] = toned(grey[y0:y1, x0:x1], hue, chroma)
    return out


def bordered(rgb: np.ndarray, width: int, colour=(1.0, 1.0, 1.0)) -> np.ndarray:
    h, w, _ = rgb.shape
    out = np.empty((h + 2 * width, w + 2 * width, 3), dtype=np.float32)
    out[:] = np.asarray(colour, dtype=np.float32)
    out[width : width + h, width : width + w] = rgb
    return out


def grain(rgb: np.ndarray, sigma: float = 0.04, colour_sigma: float = 0.0, seed: int = 1) -> np.ndarray:
    """Film grain (the same noise in every channel), plus optional independent per-channel (colour) noise."""
    rng = np.random.default_rng(seed)
    h, w, _ = rgb.shape
    out = rgb + rng.normal(0, sigma, (h, w, 1)).astype(np.float32)
    if colour_sigma:
        out = out + rng.normal(0, colour_sigma, (h, w, 3)).astype(np.float32)
    return np.clip(out, 0, 1)


def vignette(rgb: np.ndarray, strength: float = 0.6) -> np.ndarray:
    h, w, _ = rgb.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((x - w / 2) / (w / 2), (y - h / 2) / (h / 2)) / math.sqrt(2)
    return np.clip(rgb * (1 - strength * r[..., None] ** 2), 0, 1)


def save(rgb: np.ndarray, path: Path, quality: int = 92, **options) -> Path:
    """Write a real file (format from the suffix); JPEGs keep Pillow's 4:2:0 chroma subsampling."""
    mode = "L" if rgb.ndim == 2 else "RGB"
    im = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), mode)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        options.setdefault("quality", quality)
    im.save(path, **options)
    return path


SRGB_PRIMARIES_D50 = (
    (0.4360747, 0.2225045, 0.0139322),
    (0.3850649, 0.7168786, 0.0971045),
    (0.1430804, 0.0606169, 0.7141733),
)
"""sRGB's red, green and blue in XYZ (D50-adapted, as ICC profiles hold them)."""


def icc_profile(description: str, primaries=SRGB_PRIMARIES_D50, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile (what an editor embeds), so a test can embed a profile other
    than sRGB without shipping one: ``primaries`` are the red, green, blue columns in D50 XYZ."""
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    text = description.encode("ascii")
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(primaries[0])),
        (b"gXYZ", xyz(primaries[1])),
        (b"bXYZ", xyz(primaries[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, tag in tags:
        tag += b"\0" * (-len(tag) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(tag))
        body += tag
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
