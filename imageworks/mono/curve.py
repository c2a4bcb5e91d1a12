"""The toning curve: a global tone (none, sepia, selenium, cyanotype...) makes a pixel's colour a function of its
lightness alone. Fit that function as the median a*, b* per L* bin; a pixel far from it in a*, b* is off the curve,
whatever its colour, and a curve whose hue changes with lightness is a split tone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from imageworks.mono import thresholds as T

_QUANT = 0.5
"""a*, b* resolution of the median histograms (ΔE): a quarter of the smallest threshold."""
_AB_RANGE = 64.0
"""Medians beyond ±64 are clipped there: no tone comes near (a strong sepia has C* ~ 30)."""
_NQ = int(2 * _AB_RANGE / _QUANT) + 1
_LUT_STEPS = 1001


@dataclass(frozen=True)
class Curve:
    """Median a*, b* per L* bin (after filling sparse bins and median-filtering across bins)."""

    centres: np.ndarray
    a: np.ndarray
    b: np.ndarray
    counts: np.ndarray
    """Fitted pixels per bin."""

    @property
    def chroma(self) -> np.ndarray:
        return np.hypot(self.a, self.b)

    def at(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The curve's a*, b* at each lightness (linear between bin centres, looked up at 0.1 L* steps)."""
        steps = np.linspace(0, 100, _LUT_STEPS, dtype=np.float64)
        lut_a = np.interp(steps, self.centres, self.a).astype(np.float32)
        lut_b = np.interp(steps, self.centres, self.b).astype(np.float32)
        index = np.clip(L * np.float32((_LUT_STEPS - 1) / 100) + np.float32(0.5), 0, _LUT_STEPS - 1).astype(np.int32)
        return lut_a[index], lut_b[index]


def bins() -> np.ndarray:
    return np.arange(T.CURVE_BIN_L / 2, 100, T.CURVE_BIN_L, dtype=np.float64)


def _bin_index(L: np.ndarray) -> np.ndarray:
    count = len(bins())
    return np.clip((L / T.CURVE_BIN_L).astype(np.int32), 0, count - 1)


def _medians(index: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Per-bin medians of ``values`` from one joint histogram (one pass, no sort)."""
    q = np.clip(np.rint((values + _AB_RANGE) / _QUANT).astype(np.int32), 0, _NQ - 1)
    hist = np.bincount(index * _NQ + q, minlength=count * _NQ).reshape(count, _NQ)
    cumulative = np.cumsum(hist, axis=1)
    half = cumulative[:, -1:] / 2.0
    position = np.argmax(cumulative >= half, axis=1)
    return position * _QUANT - _AB_RANGE


def _tiles(shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's tile of a TILE_GRID × TILE_GRID grid over the frame."""
    h, w = shape
    rows = np.minimum(np.arange(h) * T.TILE_GRID // h, T.TILE_GRID - 1)
    cols = np.minimum(np.arange(w) * T.TILE_GRID // w, T.TILE_GRID - 1)
    return (rows[:, None] * T.TILE_GRID + cols[None, :]).astype(np.int32)


def _vote(a: np.ndarray, b: np.ndarray, votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column (bin), the vote at rank CURVE_VOTE_RANK by chroma among the tiles that vote: a real tile's median,
    never an average of two colours. A colour becomes the tone of a lightness only when two thirds of the tiles with
    that lightness carry it; otherwise the less coloured tiles speak (the rest of a picture round a coloured object
    that fills most of the tiles at its lightness; the untoned half of a half-toned print)."""
    chroma = np.where(votes, np.hypot(a, b), np.inf)
    order = np.argsort(chroma, axis=0, kind="stable")
    count = votes.sum(axis=0)
    rank = np.floor((count - 1) * T.CURVE_VOTE_RANK).astype(np.int64)
    columns = np.arange(a.shape[1])
    best = order[rank, columns]
    return a[best, columns], b[best, columns]


def _anchored(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The known bins plus black (L* 0) and white (L* 100) as neutral when no bin reaches them: sRGB holds no
    chroma at either end, so a tone fades towards them rather than staying as strong as its last measured bin."""
    if L[0] > T.CURVE_BIN_L:
        L, a, b = np.r_[0.0, L], np.r_[0.0, a], np.r_[0.0, b]
    if L[-1] < 100 - T.CURVE_BIN_L:
        L, a, b = np.r_[L, 100.0], np.r_[a, 0.0], np.r_[b, 0.0]
    return L, a, b


def fit(L: np.ndarray, a: np.ndarray, b: np.ndarray, use: np.ndarray) -> Curve:
    """The toning curve of the pixels where ``use`` holds.

    A global tone is everywhere in the frame, so each tile of a grid votes once per bin (its own median) and the
    bin's value is chosen among the votes (``_vote``): a spot or a toned panel fills a few tiles and is outvoted
    however many of the bin's pixels it holds. A bin found in fewer than CURVE_MIN_TILES tiles has no say of its
    own; it takes the curve interpolated from the bins around it."""
    centres = bins()
    count = len(centres)
    tiles = T.TILE_GRID * T.TILE_GRID
    index = _bin_index(L[use])
    tile = _tiles(L.shape)[use]
    counts = np.bincount(index, minlength=count)
    joint = tile * count + index
    per_tile = np.bincount(joint, minlength=tiles * count).reshape(tiles, count)
    tile_a = _medians(joint, a[use], tiles * count).reshape(tiles, count)
    tile_b = _medians(joint, b[use], tiles * count).reshape(tiles, count)
    tile_pixels = np.maximum(per_tile.sum(axis=1, keepdims=True), 1)
    votes = per_tile >= np.maximum(T.TILE_MIN_PIXELS, T.TILE_MIN_SHARE * tile_pixels)
    voters = votes.sum(axis=0)
    total = int(counts.sum())
    own = (voters >= T.CURVE_MIN_TILES) & (counts >= max(20, T.CURVE_MIN_SHARE * total))
    if not own.any():
        zeros = np.zeros(count)
        return Curve(centres, zeros, zeros.copy(), counts)
    med_a, med_b = _vote(tile_a[:, own], tile_b[:, own], votes[:, own])
    known_L, known_a, known_b = _anchored(centres[own], med_a, med_b)
    fill_a = np.interp(centres, known_L, known_a)
    fill_b = np.interp(centres, known_L, known_b)
    local_a = ndimage.median_filter(fill_a, size=T.CURVE_MEDIAN_TAPS, mode="nearest")
    local_b = ndimage.median_filter(fill_b, size=T.CURVE_MEDIAN_TAPS, mode="nearest")
    outlier = np.hypot(fill_a - local_a, fill_b - local_b) > T.CURVE_OUTLIER
    return Curve(centres, np.where(outlier, local_a, fill_a), np.where(outlier, local_b, fill_b), counts)


def residual94(a: np.ndarray, b: np.ndarray, curve_a: np.ndarray, curve_b: np.ndarray) -> np.ndarray:
    """How far each pixel's a*, b* lies from the curve's, in CIE94 units (the curve's colour as the reference): a
    chroma difference weighs 1 / (1 + K1·C*), a hue difference 1 / (1 + K2·C*). On a neutral curve this is plain
    ΔE*ab; on a strong tone, JPEG's chroma errors (proportional to the chroma) weigh what the eye sees of them."""
    ref_chroma = np.hypot(curve_a, curve_b)
    d_chroma = np.hypot(a, b) - ref_chroma
    d_ab2 = (a - curve_a) ** 2 + (b - curve_b) ** 2
    d_hue2 = np.maximum(d_ab2 - d_chroma**2, 0)
    s_c = 1 + np.float32(T.CIE94_K1) * ref_chroma
    s_h = 1 + np.float32(T.CIE94_K2) * ref_chroma
    return np.sqrt((d_chroma / s_c) ** 2 + d_hue2 / s_h**2)


def off_curve(a: np.ndarray, b: np.ndarray, curve_a: np.ndarray, curve_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's CIE94 residual from the curve, and whether it is off the curve: another hue, more colour than
    the tone, or (less colour) untoned. Where the curve carries a tone, a pixel of the tone's hue may hold more or
    less of it (a vignette, burning or dodging done after toning): it is off only when clearly stronger
    (TONED_EXCESS) or nearly neutral (UNTONED_SHARE)."""
    ref_chroma = np.hypot(curve_a, curve_b)
    chroma = np.hypot(a, b)
    d_chroma = chroma - ref_chroma
    d_hue = np.sqrt(np.maximum((a - curve_a) ** 2 + (b - curve_b) ** 2 - d_chroma**2, 0))
    chroma_part = d_chroma / (1 + np.float32(T.CIE94_K1) * ref_chroma)
    hue_part = d_hue / (1 + np.float32(T.CIE94_K2) * ref_chroma)
    residual = np.sqrt(chroma_part**2 + hue_part**2)
    untoned = chroma <= np.maximum(np.float32(T.NEUTRAL_CHROMA), np.float32(T.UNTONED_SHARE) * ref_chroma)
    excess = np.where(ref_chroma >= T.TONE_CHROMA, np.float32(T.TONED_EXCESS), np.float32(T.RESIDUAL_OFF))
    off = (
        (hue_part >= T.RESIDUAL_OFF)
        | ((chroma_part > 0) & (residual >= T.RESIDUAL_OFF) & (hue_part >= T.RESIDUAL_OFF / 2))
        | (chroma_part >= excess)
        | ((chroma_part <= -T.RESIDUAL_OFF) & untoned)
    )
    return residual, off


@dataclass(frozen=True)
class ToneStats:
    """What the curve says about the global tone."""

    chroma: float
    """Typical C* of the tone: the pixel-weighted median of the curve's C* over the fitted pixels."""
    hue: float | None
    """Chroma-weighted circular mean hue (degrees) of the coloured bins; None when no bin has colour."""
    hue_spread: float
    """Chroma-weighted circular standard deviation (degrees) of the coloured bins' hues."""
    shadow_highlight: float | None
    """Hue difference (degrees) between the shadows' and the highlights' tone, when both carry one."""
    departure: float = 0.0
    """How far (CIE94 ΔE) the coloured bins stray from one hue: the pixel-weighted DEPARTURE_RANK percentile of each
    bin's distance from the ray of the mean hue. Hue angles alone overstate a faint tone's wandering (±1 of JPEG error
    in a* is ±20° at C* 3); this says whether the wandering can be seen."""


def _circular(hues_deg: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    angles = np.radians(hues_deg)
    total = float(weights.sum())
    c = float((weights * np.cos(angles)).sum()) / total
    s = float((weights * np.sin(angles)).sum()) / total
    mean = math.degrees(math.atan2(s, c)) % 360
    resultant = min(1.0, math.hypot(c, s))
    spread = math.degrees(math.sqrt(-2 * math.log(resultant))) if resultant > 0 else 180.0
    return mean, spread


def hue_difference(h1: float, h2: float) -> float:
    """Smallest angle between two hues, in degrees."""
    d = abs(h1 - h2) % 360
    return min(d, 360 - d)


def tone_stats(curve: Curve) -> ToneStats:
    chroma = curve.chroma
    reliable = (curve.centres >= T.UNRELIABLE_DARK_L) & (curve.centres <= T.UNRELIABLE_LIGHT_L)
    weights = curve.counts * reliable
    if weights.sum() == 0:
        return ToneStats(0.0, None, 0.0, None)
    order = np.argsort(chroma)
    cumulative = np.cumsum(weights[order])
    typical = float(chroma[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
    hues = np.degrees(np.arctan2(curve.b, curve.a)) % 360
    coloured = reliable & (chroma > T.SPLIT_MIN_CHROMA) & (curve.counts > 0)
    if not coloured.any():
        return ToneStats(typical, None, 0.0, None)
    hue_weights = (curve.counts * chroma)[coloured]
    mean, spread = _circular(hues[coloured], hue_weights)
    shadow_highlight = None
    total = float(hue_weights.sum())
    parts = []
    for part in (coloured & (curve.centres < T.SPLIT_SHADOW_L), coloured & (curve.centres > T.SPLIT_HIGHLIGHT_L)):
        w = (curve.counts * chroma)[part]
        parts.append(_circular(hues[part], w)[0] if w.sum() >= T.SPLIT_SIDE_SHARE * total else None)
    if parts[0] is not None and parts[1] is not None:
        shadow_highlight = hue_difference(parts[0], parts[1])
    return ToneStats(typical, mean, spread, shadow_highlight, _departure(curve, coloured, mean))


def _departure(curve: Curve, coloured: np.ndarray, hue: float) -> float:
    """The coloured bins' CIE94 distance from the ray {t·(cos hue, sin hue), t ≥ 0}, at its weighted DEPARTURE_RANK."""
    ux, uy = math.cos(math.radians(hue)), math.sin(math.radians(hue))
    a, b = curve.a[coloured], curve.b[coloured]
    along = np.maximum(a * ux + b * uy, 0)
    distance = residual94(a, b, along * ux, along * uy)
    weights = curve.counts[coloured].astype(np.float64)
    order = np.argsort(distance)
    cumulative = np.cumsum(weights[order])
    return float(distance[order][np.searchsorted(cumulative, T.DEPARTURE_RANK * cumulative[-1])])
