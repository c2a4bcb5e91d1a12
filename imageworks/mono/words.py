"""Words for measured colour: hue families (a table of CIELAB hue bands), strengths from C*, locations from a 3×3
grid, tone names. The checker and the narrator say colour only through these; the model never chooses them.

The bands were set from the CIELAB hues of named sRGB colours (red 40°, orange 60°, sepia 65°, gold 91°, yellow 103°,
green 136°, cyan 196°, sky blue 235°, cyanotype/azure 285°, blue 306°, magenta 328°, rose 3°).
"""

from __future__ import annotations

from imageworks.mono import thresholds as T

HUE_BANDS: tuple[tuple[float, str], ...] = (
    (15.0, "pink"),
    (50.0, "red"),
    (75.0, "orange"),
    (95.0, "amber"),
    (115.0, "yellow"),
    (132.0, "lime"),
    (170.0, "green"),
    (215.0, "cyan"),
    (262.0, "sky blue"),
    (290.0, "azure"),
    (318.0, "blue"),
    (345.0, "purple"),
    (360.0, "pink"),
)
"""Upper bound (exclusive) of each band's hue, in order; pink wraps around 0°."""

FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(name for _, name in HUE_BANDS))
"""The twelve families, in hue order."""

NEUTRAL = "neutral"


def colour_family(hue: float) -> str:
    """The family of a CIELAB hue angle (degrees)."""
    hue %= 360
    for upper, name in HUE_BANDS:
        if hue < upper:
            return name
    return HUE_BANDS[-1][1]


def neighbours(family: str) -> set[str]:
    """The family and the two either side of it: a word naming one of these does not contradict a measurement."""
    if family not in FAMILIES:
        return {family}
    i = FAMILIES.index(family)
    n = len(FAMILIES)
    return {FAMILIES[(i - 1) % n], family, FAMILIES[(i + 1) % n]}


def strength(chroma: float) -> str:
    if chroma < T.STRENGTH_NOTICEABLE:
        return "faint"
    if chroma < T.STRENGTH_STRONG:
        return "noticeable"
    return "strong"


_ROWS = ("top", "centre", "bottom")
_COLUMNS = ("left", "centre", "right")


def location(x: float, y: float, width: float, height: float) -> str:
    """Where (x, y) falls in a 3×3 grid over the frame: ``top left``, ``top centre``, ``centre``, ``centre right``..."""
    column = _COLUMNS[min(2, max(0, int(3 * x / max(width, 1))))]
    row = _ROWS[min(2, max(0, int(3 * y / max(height, 1))))]
    if row == column == "centre":
        return "centre"
    return f"{row} {column}"


def tone_name(hue: float) -> str:
    """A toned print's usual name for its hue: sepia (browns), selenium (purple-browns), cyanotype (blues)."""
    family = colour_family(hue)
    if family in ("orange", "amber"):
        return "sepia"
    if family in ("red", "pink"):
        return "selenium"
    if family in ("azure", "sky blue", "blue"):
        return "cyanotype"
    return f"{family} tone"
