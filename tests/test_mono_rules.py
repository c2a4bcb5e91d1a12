"""The mono checker against the competition rules, on synthetic pictures saved as real files by Pillow: what is
monochrome (neutral, one tone), what is a colour work (spot colour, partial toning, split toning, a border of
another tone), and what noise must never fail (JPEG q60, grain, vignettes, near-black, blown highlights)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imageworks.mono.check import check_file
from imageworks.mono.result import Analysis
from tests import mono_images as M

GREY = M.scene()


def check(rgb: np.ndarray, path: Path, rules: str = "fiap", **save) -> Analysis:
    return check_file(M.save(rgb, path, **save), rules).analysis


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mono-rules")


CLEAN_NEUTRAL: dict[str, tuple[Callable[[], np.ndarray], dict[str, Any]]] = {
    "jpeg_q60": (lambda: M.neutral(GREY), {"quality": 60}),
    "film_grain_q60": (lambda: M.grain(M.neutral(GREY), 0.05), {"quality": 60}),
    "colour_noise_png": (lambda: M.grain(M.neutral(GREY), 0.02, 0.03), {}),
    "vignette_q60": (lambda: M.vignette(M.neutral(GREY), 0.7), {"quality": 60}),
    "near_black_q60": (lambda: M.neutral(GREY * 0.08), {"quality": 60}),
    "blown_highlights_q60": (lambda: M.neutral(np.clip(GREY * 1.8, 0, 1)), {"quality": 60}),
}


@pytest.mark.parametrize("case", sorted(CLEAN_NEUTRAL))
def test_noise_grain_vignettes_and_extremes_never_fail_a_neutral_picture(folder: Path, case: str) -> None:
    make, save = CLEAN_NEUTRAL[case]
    suffix = ".png" if case.endswith("png") else ".jpg"
    analysis = check(make(), folder / f"{case}{suffix}", **save)
    assert analysis.verdict == "neutral_mono", analysis.summary
    assert analysis.reasons == [] and analysis.regions == [] and analysis.tone is None


TONES = {
    "sepia_lab": (lambda: M.toned(GREY, 68, 14), "sepia", "orange"),
    "sepia_colorize": (lambda: M.colorized(GREY, "#a0784a"), "sepia", "orange"),
    "cyanotype": (lambda: M.toned(GREY, 285, 12), "cyanotype", "azure"),
    "selenium": (lambda: M.toned(GREY, 20, 8), "selenium", "red"),
    "sepia_grain": (lambda: M.grain(M.toned(GREY, 68, 14), 0.05), "sepia", "orange"),
    "sepia_then_vignette": (lambda: M.vignette(M.toned(GREY, 68, 14), 0.6), "sepia", "orange"),
}


@pytest.mark.parametrize("case", sorted(TONES))
def test_a_picture_toned_entirely_in_one_colour_is_toned_mono(folder: Path, case: str) -> None:
    make, name, colour = TONES[case]
    analysis = check(make(), folder / f"{case}.jpg", quality=60)
    assert analysis.verdict == "toned_mono", analysis.summary
    assert analysis.tone is not None and analysis.tone.name == name and analysis.tone.colour == colour
    assert analysis.summary.startswith(f"toned monochrome: {name}")


def test_a_faint_uniform_cast_is_a_query_colour_cast(folder: Path) -> None:
    analysis = check(M.toned(GREY, 70, 3), folder / "faint.jpg", quality=60)
    assert analysis.verdict == "query" and analysis.reasons == ["colour_cast"], analysis.summary
    assert 2.0 < analysis.numbers.tone_chroma < 3.5


def test_split_toning_fails(folder: Path) -> None:
    analysis = check(M.split_toned(GREY, 260, 70), folder / "split.jpg", quality=85)
    assert analysis.verdict == "not_mono" and "split_tone" in analysis.reasons, analysis.summary
    assert analysis.numbers.shadow_highlight_hue is not None and analysis.numbers.shadow_highlight_hue >= 45


# ---- the four colour works the original passed, at 6 MP as it was measured -----------------------------------

BIG = M.scene(3000, 2000, seed=5)


def test_a_red_spot_of_0_17_percent_fails_and_is_found(folder: Path) -> None:
    analysis = check(M.spot(M.neutral(BIG), 0.0017, M.RED, centre=(0.8, 0.2)), folder / "spot017.jpg")
    assert analysis.verdict == "not_mono" and analysis.reasons == ["spot_colour"], analysis.summary
    (region,) = analysis.regions
    assert region.level == "fail" and region.colour == "red" and region.location == "top right"
    assert 0.12 <= region.area_pct <= 0.25
    x, y, w, h = region.bbox
    assert abs(x + w / 2 - 2400) < 40 and abs(y + h / 2 - 400) < 40


def test_a_red_spot_of_1_5_percent_fails(folder: Path) -> None:
    analysis = check(M.spot(M.neutral(BIG), 0.015, M.RED, centre=(0.3, 0.6)), folder / "spot15.jpg")
    assert analysis.verdict == "not_mono" and analysis.reasons == ["spot_colour"], analysis.summary
    assert analysis.regions[0].colour == "red" and 1.2 <= analysis.regions[0].area_pct <= 1.8


def test_half_sepia_half_neutral_is_partial_toning(folder: Path) -> None:
    rgb = np.concatenate([M.colorized(BIG)[:, :1500], M.neutral(BIG)[:, 1500:]], axis=1)
    analysis = check(rgb, folder / "half.jpg")
    assert analysis.verdict == "not_mono" and "partial_toning" in analysis.reasons, analysis.summary
    toning = [r for r in analysis.regions if r.reason == "partial_toning"]
    # per lightness the curve follows one half or the other; either way one half is off it (the darkest and
    # lightest parts carry little tone, so less than the whole half)
    assert sum(r.area_pct for r in toning) >= 15


def test_a_neutral_picture_with_a_17_percent_toned_panel_is_partial_toning(folder: Path) -> None:
    rgb = M.neutral(BIG)
    h, w = BIG.shape
    y0, y1, x0, x1 = int(0.5 * h), int(0.5 * h + 0.41 * h), int(0.5 * w), int(0.5 * w + 0.41 * w)
    rgb[y0:y1, x0:x1] = M.colorized(BIG[y0:y1, x0:x1], "#9a5a4a")
    analysis = check(rgb, folder / "panel.jpg")
    assert analysis.verdict == "not_mono" and analysis.reasons == ["partial_toning"], analysis.summary
    assert analysis.regions[0].location == "bottom right" and analysis.regions[0].area_pct >= 10


# ---- spots in toned pictures, several colours, specks -------------------------------------------------------


def test_a_blue_spot_in_a_sepia_picture_fails(folder: Path) -> None:
    analysis = check(M.spot(M.toned(GREY), 0.004, M.BLUE, centre=(0.15, 0.85)), folder / "sepia-blue.jpg")
    assert analysis.verdict == "not_mono" and analysis.reasons == ["spot_colour"], analysis.summary
    assert analysis.tone is not None and analysis.tone.name == "sepia"
    assert analysis.regions[0].colour == "blue" and analysis.regions[0].location == "bottom left"


def test_spots_of_two_colours_are_multi_colour(folder: Path) -> None:
    rgb = M.spot(M.spot(M.neutral(GREY), 0.003, M.RED, centre=(0.2, 0.2)), 0.003, M.GREEN, centre=(0.8, 0.8))
    analysis = check(rgb, folder / "two.jpg")
    assert analysis.verdict == "not_mono" and set(analysis.reasons) == {"spot_colour", "multi_colour"}
    assert {(r.colour, r.location) for r in analysis.regions} == {("red", "top left"), ("green", "bottom right")}


def test_a_speck_of_colour_is_only_a_query(folder: Path) -> None:
    analysis = check(M.spot(M.neutral(GREY), 0.0002, M.RED, centre=(0.5, 0.5)), folder / "speck.png")
    assert analysis.verdict == "query" and analysis.reasons == ["spot_colour"], analysis.summary
    assert analysis.regions[0].level == "query" and analysis.regions[0].location == "centre"


def test_a_spot_whose_lightness_nothing_else_has_is_still_off_the_curve(folder: Path) -> None:
    """A bright, flat picture whose only mid-dark pixels are a red object: the curve must not take the object's
    colour as the tone of that lightness (the tiles outvote it, and the curve fades to neutral at black)."""
    flat = np.full((1024, 1536), 0.8, dtype=np.float32) + 0.02 * np.sin(np.arange(1536) / 9.0)[None, :]
    analysis = check(M.spot(M.neutral(flat), 0.015, M.RED, centre=(0.5, 0.2), shaded=False), folder / "flat.jpg")
    assert analysis.verdict == "not_mono" and analysis.regions[0].colour == "red", analysis.summary
    assert analysis.regions[0].area_pct >= 1.2


# ---- borders ------------------------------------------------------------------------------------------------

SEPIA_MID = tuple(M.toned(np.full((1, 1), 0.5, dtype=np.float32))[0, 0])


@pytest.mark.parametrize("rules", ["fiap", "psa"])
def test_a_coloured_border_fails_under_both_rules(folder: Path, rules: str) -> None:
    analysis = check(M.bordered(M.neutral(GREY), 40, (0.6, 0.2, 0.2)), folder / f"red-border-{rules}.jpg", rules)
    assert analysis.verdict == "not_mono" and analysis.reasons == ["border_tone"], analysis.summary
    assert analysis.numbers.border_px > 0


def test_a_neutral_border_round_a_toned_picture_fails_psa_and_is_a_fiap_query(folder: Path) -> None:
    rgb = M.bordered(M.toned(GREY), 40, (0.5, 0.5, 0.5))
    psa = check(rgb, folder / "grey-border.jpg", "psa")
    fiap = check_file(folder / "grey-border.jpg", "fiap").analysis
    assert psa.verdict == "not_mono" and psa.reasons == ["border_tone"], psa.summary
    assert fiap.verdict == "query" and fiap.reasons == ["border_tone"], fiap.summary


@pytest.mark.parametrize("colour", [SEPIA_MID, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)], ids=["same-tone", "white", "black"])
def test_a_border_in_the_tone_or_paper_white_or_black_passes(folder: Path, colour: tuple) -> None:
    analysis = check(M.bordered(M.toned(GREY), 40, colour), folder / f"border-{colour[0]:.2f}.jpg", "psa")
    assert analysis.verdict == "toned_mono", analysis.summary
