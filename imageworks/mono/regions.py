"""Where the colour is: a uniform frame around the picture (a border), and the connected patches of pixels off the
toning curve (spot colour, partial toning)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imageworks.mono import thresholds as T


@dataclass(frozen=True)
class Border:
    width: int
    """Narrowest side's width in analysed pixels (0: no border)."""
    mask: np.ndarray
    L: float = 0.0
    a: float = 0.0
    b: float = 0.0

    def grown(self, pixels: int) -> np.ndarray:
        """The border and the picture's outer ``pixels``, where smoothing, resizing and JPEG's chroma mix the two."""
        if not self.width:
            return self.mask
        return ndimage.binary_dilation(self.mask, iterations=pixels)


def _run(lines_L: np.ndarray, lines_a: np.ndarray, lines_b: np.ndarray, limit: int) -> int:
    """How many lines from the first one are uniform and the colour of the first (lines along axis 0). Read a few
    lines at a time: most photos stop at their first line, so this costs next to nothing where there is no border."""
    first = np.array([lines_L[0].mean(), lines_a[0].mean(), lines_b[0].mean()])
    start = 0
    step = 8
    while start < limit:
        stop = min(limit, start + step)
        chunk_L, chunk_a, chunk_b = lines_L[start:stop], lines_a[start:stop], lines_b[start:stop]
        means = np.stack([chunk_L.mean(axis=1), chunk_a.mean(axis=1), chunk_b.mean(axis=1)], axis=1)
        spread = np.maximum(chunk_L.std(axis=1), np.hypot(chunk_a.std(axis=1), chunk_b.std(axis=1)))
        ok = (spread <= T.BORDER_UNIFORM) & (np.linalg.norm(means - first, axis=1) <= T.BORDER_UNIFORM)
        bad = np.flatnonzero(~ok)
        if bad.size:
            return start + int(bad[0])
        start, step = stop, step * 2
    return limit


def find_border(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> Border:
    """A frame of one colour on all four sides, each at least BORDER_MIN_SHARE of its dimension wide."""
    h, w = L.shape
    mask = np.zeros((h, w), dtype=bool)
    if min(h, w) < 16:
        return Border(0, mask)
    limit_h = max(1, int(T.BORDER_MAX_SHARE * h))
    limit_w = max(1, int(T.BORDER_MAX_SHARE * w))
    top = _run(L[:limit_h], a[:limit_h], b[:limit_h], limit_h)
    bottom = _run(L[::-1][:limit_h], a[::-1][:limit_h], b[::-1][:limit_h], limit_h)
    left = _run(L.T[:limit_w], a.T[:limit_w], b.T[:limit_w], limit_w)
    right = _run(L.T[::-1][:limit_w], a.T[::-1][:limit_w], b.T[::-1][:limit_w], limit_w)
    need_h = max(2, int(np.ceil(T.BORDER_MIN_SHARE * h)))
    need_w = max(2, int(np.ceil(T.BORDER_MIN_SHARE * w)))
    if min(top, bottom) < need_h or min(left, right) < need_w:
        return Border(0, mask)
    if top >= limit_h and bottom >= limit_h and left >= limit_w and right >= limit_w:
        return Border(0, mask)  # flat all the way in: a plain picture, not a frame
    sides = [(L[0].mean(), a[0].mean(), b[0].mean()), (L[-1].mean(), a[-1].mean(), b[-1].mean())]
    sides += [(L[:, 0].mean(), a[:, 0].mean(), b[:, 0].mean()), (L[:, -1].mean(), a[:, -1].mean(), b[:, -1].mean())]
    colours = np.array(sides)
    if np.linalg.norm(colours - colours.mean(axis=0), axis=1).max() > T.BORDER_UNIFORM:
        return Border(0, mask)  # four edges of different colours: the picture reaches the edges
    mask[:top] = True
    mask[h - bottom :] = True
    mask[:, :left] = True
    mask[:, w - right :] = True
    L0, a0, b0 = (float(v) for v in colours.mean(axis=0))
    return Border(int(min(top, bottom, left, right)), mask, L0, a0, b0)


@dataclass(frozen=True)
class Patch:
    """One off-curve region, in analysed pixels."""

    pixels: int
    share: float
    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    L: float
    a: float
    b: float
    residual: float


def off_curve_patches(
    off: np.ndarray, L: np.ndarray, a: np.ndarray, b: np.ndarray, residual: np.ndarray, frame_pixels: int
) -> list[Patch]:
    """The connected patches of ``off`` (after opening away lines too thin to be a patch), largest first."""
    if not off.any():
        return []
    structure = np.ones((2 * T.OPEN_RADIUS + 1,) * 2, dtype=bool)
    opened = ndimage.binary_opening(off, structure=structure)
    labels, count = ndimage.label(opened, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return []
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=count + 1)
    minimum = max(T.MIN_REGION_PIXELS, T.MIN_REGION_SHARE * frame_pixels)
    keep = np.flatnonzero(sizes >= minimum)
    keep = keep[keep > 0]
    if keep.size == 0:
        return []
    ys, xs = np.indices(labels.shape, dtype=np.float32)

    def sums(values: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=values.ravel(), minlength=count + 1)

    sum_x, sum_y = sums(xs), sums(ys)
    sum_L, sum_a, sum_b, sum_r = sums(L), sums(a), sums(b), sums(residual)
    boxes = ndimage.find_objects(labels)
    patches = []
    for label in keep:
        n = float(sizes[label])
        rows, cols = boxes[label - 1]
        patches.append(
            Patch(
                pixels=int(n),
                share=n / frame_pixels,
                bbox=(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start),
                centroid=(sum_x[label] / n, sum_y[label] / n),
                L=sum_L[label] / n,
                a=sum_a[label] / n,
                b=sum_b[label] / n,
                residual=sum_r[label] / n,
            )
        )
    patches.sort(key=lambda p: p.pixels, reverse=True)
    return patches
