"""What a mono check finds, as typed records (msgspec Structs, no numpy): the job's record embeds them and the
CLI's ``--json`` prints them as they are."""

from __future__ import annotations

from typing import Literal

import msgspec

Verdict = Literal["neutral_mono", "toned_mono", "query", "not_mono"]
VERDICTS: tuple[str, ...] = ("neutral_mono", "toned_mono", "query", "not_mono")
REASONS: tuple[str, ...] = (
    "spot_colour",
    "partial_toning",
    "split_tone",
    "multi_colour",
    "colour_cast",
    "border_tone",
)
"""Every reason a verdict can give (a ``query`` or ``not_mono`` always gives at least one)."""
RULES: tuple[str, ...] = ("fiap", "psa")


class Tone(msgspec.Struct, kw_only=True):
    """The global tone of a toned (or faintly cast) image."""

    name: str
    """``sepia``, ``selenium``, ``cyanotype`` or ``<colour> tone``."""
    colour: str
    """The hue family (``orange``, ``blue``...)."""
    hue: float
    """CIELAB hue angle, degrees."""
    chroma: float
    """Typical C* of the tone."""


class Region(msgspec.Struct, kw_only=True):
    """A connected patch of pixels off the toning curve, in the photo's own pixels (after its EXIF orientation)."""

    reason: str
    """``spot_colour`` or ``partial_toning``."""
    level: Literal["fail", "query"]
    area_pct: float
    """Share of the frame, in percent."""
    bbox: tuple[int, int, int, int]
    """x, y, width, height."""
    centroid: tuple[int, int]
    hue: float
    """Mean CIELAB hue (degrees) of the region's own colour."""
    chroma: float
    """Mean C* of the region's own colour."""
    lightness: float
    """Mean L*."""
    residual: float
    """Mean ΔE (a*, b*) from the toning curve: how far its colour is from the picture's tone."""
    colour: str
    """The measured colour word (hue family, or ``neutral`` for an untoned patch in a toned picture)."""
    strength: str
    """``faint``, ``noticeable`` or ``strong``, from the region's C* (or its residual when it is the untoned part)."""
    location: str
    """Where its centroid falls in a 3×3 grid: ``top left`` ... ``centre`` ... ``bottom right``."""


class Numbers(msgspec.Struct, kw_only=True):
    """The measurements behind a verdict (C*, ΔE, degrees; shares in percent of the analysed pixels)."""

    chroma_p95: float = 0.0
    chroma_p99: float = 0.0
    pct_above_c2: float = 0.0
    pct_above_c4: float = 0.0
    tone_chroma: float = 0.0
    tone_hue: float | None = None
    hue_spread: float = 0.0
    shadow_highlight_hue: float | None = None
    hue_departure: float = 0.0
    """How far (CIE94 ΔE) the tone's hue strays from one hue across lightness."""
    off_curve_pct: float = 0.0
    residual_p99: float = 0.0
    largest_region_pct: float = 0.0
    border_px: int = 0
    """Width of a uniform frame around the picture, in analysed pixels (0: none)."""
    border_chroma: float | None = None
    border_residual: float | None = None


class Analysis(msgspec.Struct, kw_only=True):
    """One photo's mono check."""

    verdict: Verdict
    reasons: list[str] = []
    tone: Tone | None = None
    numbers: Numbers = msgspec.field(default_factory=Numbers)
    regions: list[Region] = []
    summary: str = ""
    rules: str = "fiap"
    colour_space: str = ""
    size: tuple[int, int] = (0, 0)
    """The photo's width and height."""
    analysed: tuple[int, int] = (0, 0)
    """The analysed width and height."""


class Overlays(msgspec.Struct, kw_only=True):
    """Where a check's overlays were written (JPEG, in the cache dir; empty when none were)."""

    chroma: str = ""
    residual: str = ""
    regions: list[str] = []
    """For the narrator: per region (the largest first, at most a few), the photo around it with the region boxed,
    beside the residual map of the same crop (JPEG)."""
