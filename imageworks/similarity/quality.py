"""Which photo of a group is its reference: by default the largest (most pixels), then the sharpest, then the biggest
file; the person may ask for the sharpest first, or the earliest file (``REFERENCE_RULES``).

A group is built around its best photo (dupeGuru's and czkawka's "reference"), the one a person keeps; the others
are compared with it alone. Pixels decide first (an original beats its half-size copy and its crop); among photos of
one size, sharpness decides (a re-encode at quality 15 or a blurred frame of a burst loses detail): the variance of
the Laplacian at one analysis size, so photos of the same size are measured alike; then the file's bytes (more kept
detail) and the path, so the order is total and stable.

Only the photos a search links are measured (a group's members), once per search; a JPEG is decoded at a reduced
scale (``Image.draft``), the way the hashes are.
"""

from __future__ import annotations

import os

import msgspec
import numpy as np
from PIL import Image

ANALYSIS_SIDE = 512
"""Sharpness is measured with the photo's longer side brought to this (box-averaged), the same for every photo."""
REFERENCE_RULES: dict[str, str] = {
    "largest": "largest, then sharpest",
    "sharpest": "sharpest, then largest",
    "earliest": "earliest file, then largest",
}
"""The rules a person may choose a group's reference by (``--reference``, the Similar mode's key): name -> what the
CLI and the TUI say. "earliest" is the file's modification time, the original's usually, a copy's later."""
REFERENCE_RULE = REFERENCE_RULES["largest"]
"""The default rule, as said."""


class Quality(msgspec.Struct, frozen=True, array_like=True):
    """What ranks a photo as a reference: its pixel size, its sharpness at ``ANALYSIS_SIDE``, its file's bytes and
    modification time (0 in a search stored before it was kept; ``search.quality_for`` fills it in)."""

    width: int
    height: int
    sharpness: float
    bytes: int
    mtime_ns: int = 0


def measure(path: str) -> Quality | None:
    """The photo's quality, or None when it cannot be read now (it ranks last)."""
    try:
        stat = os.stat(path)
        with Image.open(path) as img:
            width, height = img.size
            if img.format == "JPEG":
                img.draft("L", (ANALYSIS_SIDE, ANALYSIS_SIDE))
            grey = img.convert("L")
    except Exception:  # vanished, truncated, not an image: it cannot be the reference
        return None
    grey.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BOX)
    sharpness = round(laplacian_variance(np.asarray(grey, np.float32)), 3)
    return Quality(width, height, sharpness, stat.st_size, stat.st_mtime_ns)


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: high where edges are crisp, low where they are soft."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    lap = 4 * centre - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var())


def rank_key(path: str, quality: Quality | None) -> tuple[int, float, int, str]:
    """Sort key of the default rule: the best reference first (unmeasured photos last, by path)."""
    if quality is None:
        return (1, 0.0, 0, path)
    return (-quality.width * quality.height, -quality.sharpness, -quality.bytes, path)


def rule_key(rule: str, pixels: int, sharpness: float, size: int, mtime_ns: int) -> tuple[float, ...]:
    """Sort key under ``rule`` (a name of ``REFERENCE_RULES``), the best reference first; ties fall to the default
    rule's order."""
    if rule == "sharpest":
        return (-sharpness, -pixels, -size)
    if rule == "earliest":
        return (mtime_ns, -pixels, -sharpness, -size)
    return (-pixels, -sharpness, -size)
