"""Every number the mono checker decides with, in one place, with where it comes from.

Units: L*, a*, b*, C* and ΔE are CIELAB (D65, sRGB after colour management); areas are shares of the analysed
frame (0.01 = 1 %). "Calibrated" means measured with ``bench/mono_calibrate.py``, which makes the images named
(neutral gradients and scenes at JPEG quality 60 with 4:2:0 chroma, film grain, vignettes, near-black and blown
frames, sepia/selenium/blue tones, coloured and neutral borders) and prints each statistic's worst clean value and
best coloured value; the margins below sit between the two, and ``tests/test_mono_*.py`` keep them there.
"""

from __future__ import annotations

# ---- decoding -------------------------------------------------------------------------------------------------

ANALYSIS_LONG_SIDE = 720
"""Long side of the analysed image. A 24 MP JPEG (6000 px) decodes at 1/8 scale (libjpeg's DCT scaling: 750 px,
each pixel the mean of an 8×8 block) and is box-resized to this; a 0.17 % spot is still ~590 pixels here, far above
MIN_REGION_PIXELS. (The original used 1024 px; 720 halves the work and loses no case of the calibration.)"""

SMOOTH_RADIUS = 1
"""The analysed sRGB pixels are box-averaged over (2r+1)² before Lab: JPEG's chroma noise (q60, 4:2:0) and colour
grain average out, a real patch of colour does not, and an edge's mixture of two tones stays between them."""

# ---- what is neutral ------------------------------------------------------------------------------------------

NEUTRAL_CHROMA = 2.0
"""C* at or below which a tone is neutral grey: the original's p99 limit, just under the ΔE*ab JND (≈ 2.3)."""

TONE_CHROMA = 3.5
"""A curve whose typical C* lies between NEUTRAL_CHROMA and this is a faint cast (``colour_cast``, a query): a
judge may see a neutral print or an unintended tint. At or above it the tone is deliberate (``toned_mono``).
3.5 is 1.5 JND, which side-by-side tests on grey see at once; calibrated sepia at 30 % strength is ~6."""

UNRELIABLE_DARK_L = 6.0
UNRELIABLE_LIGHT_L = 98.0
"""Pixels darker or lighter than these carry no usable hue (near-black noise, clipped highlights): they take no part
in the curve, the residuals or the tone. Calibrated: q60 noise reaches C* 3 below L* 5 on a near-black frame."""

# ---- the toning curve: a global tone is a function of lightness only ------------------------------------------

CURVE_BIN_L = 2.5
"""Width of an L* bin of the toning curve (40 bins): narrow enough to follow a sepia curve's rise and fall."""

CURVE_MIN_SHARE = 0.002
"""A bin needs this share of the frame (≥ 20 pixels too) to have its own median; emptier bins take the curve
interpolated from their neighbours, so a handful of coloured pixels never becomes the curve."""

TILE_GRID = 6
TILE_MIN_SHARE = 0.005
TILE_MIN_PIXELS = 12
CURVE_MIN_TILES = 6
"""The curve is voted by a 6×6 grid of tiles: a tile votes for a bin when at least 0.5 % of its pixels (and 12)
fall in it, and a bin needs 3 voting tiles to have a value of its own. A 1.5 % spot covers at most 4 of the 36
tiles; a 17 % panel about 8; a tone covers them all."""

CURVE_VOTE_RANK = 1 / 3
"""A bin's value is the tile vote at this rank when the votes are ordered by chroma: a colour must be the tone of
two thirds of the tiles having that lightness to become the curve there. (The median let a 1 % spot that filled
four of seven tiles at its lightness become the curve.) On a toned picture every vote carries the tone, so the
rank costs a tenth of a unit of chroma."""

CURVE_MEDIAN_TAPS = 5
CURVE_OUTLIER = 3.0
"""A bin whose median lies more than CURVE_OUTLIER (ΔE) from the median of the CURVE_MEDIAN_TAPS bins around it
takes that median instead (a Hampel filter): one or two bins that a large spot dominates (a flat background, a
spot of one lightness) are replaced by their neighbours, so the spot stays off the curve, while a tone's own rise
and peak (under 3 ΔE from bin to bin's neighbourhood even for a strong colorize) are kept as measured."""

# ---- off-curve regions: spot colour and partial toning --------------------------------------------------------

CIE94_K1 = 0.045
CIE94_K2 = 0.015
"""CIE94's graphic-arts weights: residuals are measured against the curve's colour as the reference, so a chroma
difference on a strong tone (C* 30: JPEG q60 errs by ~4.5 there) counts as the eye sees it (÷ 2.35)."""

RESIDUAL_OFF = 4.0
"""CIE94 ΔE (a*, b* only) from the curve at which a pixel is off the curve (~1.7 JND): in hue (or in hue and added
chroma together, when at least half of it is hue), in added colour (on a neutral curve; TONED_EXCESS on a toned
one), or in missing colour where it is untoned (UNTONED_SHARE). A weaker tone's hue wobbles by JPEG's rounding
(±15° at C* 4): a deficit counts only as untoned."""

UNTONED_SHARE = 0.15
"""Less colour than the curve counts as off the curve only where a pixel keeps under 15 % of the tone's C* (or is
neutral): the untoned half of a half-toned print keeps none, while a vignette or burn applied after toning keeps
the tone's hue and some of its strength (calibrated: a vignette darkening the corners to 40 % keeps ≥ 19 %)."""

TONED_EXCESS = 6.0
"""Where the curve carries a tone (C* ≥ TONE_CHROMA), more of the tone's own hue is off the curve only from this
CIE94 excess: a vignette applied after toning leaves the unvignetted middle ~3 above the curve the darkened
rest votes for (calibrated on the cameraman), while an orange spot on a sepia print stands 18 above it."""

RESIDUAL_FAIL = 6.0
"""A region whose mean residual is below this is only a query (a faint patch a judge should look at); at or above
it the colour is plain to see (2.6 JND)."""

OPEN_RADIUS = 1
"""The off-curve mask is opened (erode, then dilate) with a (2r+1)² square before regions are labelled: lines one
or two pixels wide (JPEG chroma bleeding at hard edges) vanish, patches stay."""

MIN_REGION_PIXELS = 24
MIN_REGION_SHARE = 0.0001
"""A region smaller than both (0.01 % of the frame, and 24 analysed pixels) is ignored as noise."""

FAIL_REGION_SHARE = 0.0005
"""Regions at or above 0.05 % of the frame fail (a 0.17 % spot is three times this); smaller ones are a query:
a dust-sized speck of colour might be a scanner's or a sensor's, and a judge should look."""

PARTIAL_TONING_SHARE = 0.05
"""A region covering at least 5 % of the frame is ``partial_toning`` (a toned panel or half); smaller ones are
``spot_colour`` (the 1.5 % red spot is a spot; the 17 % panel is toning)."""

MULTI_COLOUR_HUE = 30.0
"""Off-curve regions whose hues differ by at least this (degrees of CIELAB hue) make ``multi_colour``."""

# ---- split toning: a tone whose hue wanders with lightness ----------------------------------------------------

SPLIT_MIN_CHROMA = 2.5
"""Only curve bins with C* above this have a hue worth comparing (below it the hue is noise)."""

HUE_SPREAD_TONED = 10.0
HUE_SPREAD_QUERY = 14.0
"""Chroma-weighted circular spread (degrees) of the curve's hue over its coloured bins: up to 10 it is one tone;
up to 14 a query (``split_tone``); beyond, split toning. The original's limits, now over the curve (per-L medians)
rather than over noisy pixels."""

SPLIT_VISIBLE = NEUTRAL_CHROMA
"""Hue wandering is split toning only if the coloured bins stray from one hue by a visible amount (CIE94 ΔE, the
pixel-weighted 90th percentile): at least RESIDUAL_FAIL to fail, at least this (a JND) for a query. A faint tone's
hue wanders by 15° from JPEG noise alone (C* 3 at q60), which nobody can see."""

DEPARTURE_RANK = 0.9
"""The departure is read at this pixel-weighted rank of the coloured bins (their 90th percentile): a tone's stray bin
or two (a few pixels of another hue) do not make a split tone; a second tone over a tenth of the picture does."""

SPLIT_HUE_DIFFERENCE = 45.0
"""Shadows' and highlights' tone hues this far apart (degrees) are split toning whatever the spread: the original's
highlight/shadow test."""

SPLIT_SHADOW_L = 40.0
SPLIT_HIGHLIGHT_L = 60.0
SPLIT_SIDE_SHARE = 0.10
"""Where shadows end and highlights begin for that test, and the share of the tone's weight (pixels × C*) each side
must hold to have a hue of its own (the original: two hue peaks each holding ≥ 10 % of the chroma)."""

# ---- borders --------------------------------------------------------------------------------------------------

BORDER_MIN_SHARE = 0.006
"""A uniform band along an edge is a border when at least this share of that dimension wide (~6 px here)."""

BORDER_MAX_SHARE = 0.25
"""Bands wider than a quarter of the frame are the picture, not a border."""

BORDER_UNIFORM = 3.0
"""A border row or column's L*, a*, b* stay within this (standard deviation) and within this ΔE of the edge's."""

BORDER_PAPER_L = 8.0
"""A border darker than L* 8 or lighter than 100 - 8 is black or paper white: no tone can show in it, so it never
contradicts the picture's tone."""

# ---- words ----------------------------------------------------------------------------------------------------

STRENGTH_NOTICEABLE = 6.0
STRENGTH_STRONG = 20.0
"""C* below 6 is ``faint`` (under ~2.5 JND), below 20 ``noticeable``, else ``strong`` (a pastel at L* 50 has ~20)."""
