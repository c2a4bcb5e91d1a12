"""Which photo of a group is its reference: the largest (most pixels), then the sharpest, then the biggest file.

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
REFERENCE_RULE = "largest, then sharpest"
"""How a group's reference is chosen, as the CLI and the TUI say it."""


class Quality(msgspec.Struct, frozen=True, array_like=True):
    """What ranks a photo as a reference: its pixel size, its sharpness at ``ANALYSIS_SIDE`` and its file's bytes."""

    width: int
    height: int
    sharpness: float
    bytes: int


def measure(path: str) -> Quality | None:
    """The photo's quality, or None when it cannot be read now (it ranks last)."""
    try:
        size = os.path.getsize(path)
        with Image.open(path) as img:
            width, height = img.size
            if img.format == "JPEG":
                img.draft("L", (ANALYSIS_SIDE, ANALYSIS_SIDE))
            grey = img.convert("L")
    except Exception:  # vanished, truncated, not an image: it cannot be the reference
        return None
    grey.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BOX)
    return Quality(width, height, round(laplacian_variance(np.asarray(grey, np.float32)), 3), size)


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: high where edges are crisp, low where they are soft."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    centre = grey[1:-1, 1:-1]
    lap = 4 * centre - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var())


def rank_key(path: str, quality: Quality | None) -> tuple[int, float, int, str]:
    """Sort key: the best reference first (unmeasured photos last, by path)."""
    if quality is None:
        return (1, 0.0, 0, path)
    return (-quality.width * quality.height, -quality.sharpness, -quality.bytes, path)
