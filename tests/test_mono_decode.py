"""Reading photos for the mono check: decoded at the analysis size, colour-managed by the embedded profile (sRGB
assumed and said when there is none), turned upright by EXIF orientation, greyscale, 16-bit, transparent, CMYK and
broken files; Lab in float32 against scikit-image's reference conversion."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms
from skimage.color import rgb2lab

from imageworks.mono import thresholds as T
from imageworks.mono import words
from imageworks.mono.check import check_file
from imageworks.mono.decode import DecodeError, load_lab, srgb_to_lab
from tests import mono_images as M


def test_lab_is_float32_and_within_0_06_of_the_reference() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (200, 300, 3)).astype(np.uint8)
    L, a, b = srgb_to_lab(rgb)
    assert L.dtype == a.dtype == b.dtype == np.float32
    ref = rgb2lab(rgb)
    assert np.abs(L - ref[..., 0]).max() < 0.02
    assert np.abs(a - ref[..., 1]).max() < 0.06 and np.abs(b - ref[..., 2]).max() < 0.06
    grey = np.repeat(rng.integers(0, 256, (50, 50, 1)).astype(np.uint8), 3, axis=2)
    _, ga, gb = srgb_to_lab(grey)
    assert np.abs(ga).max() < 0.01 and np.abs(gb).max() < 0.01  # grey stays grey


def test_a_big_jpeg_is_decoded_reduced_to_the_analysis_size(tmp_path: Path) -> None:
    path = M.save(M.neutral(M.scene(3000, 2000)), tmp_path / "big.jpg")
    lab = load_lab(path)
    assert lab.L.shape == (480, 720) and lab.size == (3000, 2000)


def test_the_embedded_profile_is_applied_and_named(tmp_path: Path) -> None:
    """A profile whose red and green primaries are swapped: the pixels that read red in sRGB are green in it."""
    swapped = M.icc_profile("Swapped RG", (M.SRGB_PRIMARIES_D50[1], M.SRGB_PRIMARIES_D50[0], M.SRGB_PRIMARIES_D50[2]))
    rgb = M.spot(M.neutral(M.scene()), 0.01, M.RED, centre=(0.5, 0.5))
    plain = check_file(M.save(rgb, tmp_path / "plain.jpg")).analysis
    managed = check_file(M.save(rgb, tmp_path / "swapped.jpg", icc_profile=swapped)).analysis
    assert plain.colour_space == "sRGB (assumed: no profile)" and plain.regions[0].colour == "red"
    assert managed.colour_space == "embedded ICC: Swapped RG" and managed.regions[0].colour == "green"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = check_file(M.save(M.neutral(M.scene()), tmp_path / "srgb.jpg", icc_profile=srgb)).analysis
    assert tagged.colour_space.startswith("embedded ICC: sRGB") and tagged.verdict == "neutral_mono"


def test_a_broken_profile_is_said_and_srgb_assumed(tmp_path: Path) -> None:
    path = M.save(M.neutral(M.scene()), tmp_path / "bad-icc.jpg", icc_profile=b"not a profile at all" * 8)
    analysis = check_file(path).analysis
    assert analysis.colour_space.startswith("embedded ICC unreadable") and analysis.verdict == "neutral_mono"


def test_exif_orientation_puts_regions_where_the_viewer_sees_them(tmp_path: Path) -> None:
    """Stored on its side with the spot top left; shown rotated (orientation 6: 90° clockwise) it is top right."""
    stored = M.spot(M.neutral(M.scene(1200, 800)), 0.004, M.RED, centre=(0.15, 0.2))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = M.save(stored, tmp_path / "rotated.jpg", exif=exif.tobytes())
    analysis = check_file(path).analysis
    assert analysis.size == (800, 1200)
    assert analysis.regions[0].location == "top right"


def test_greyscale_and_16_bit_files_are_neutral(tmp_path: Path) -> None:
    grey = M.scene()
    eight = check_file(M.save(grey, tmp_path / "grey.jpg")).analysis
    assert eight.verdict == "neutral_mono" and eight.colour_space == "greyscale"
    sixteen = Image.fromarray((grey * 65535).astype(np.uint16))
    sixteen.save(tmp_path / "grey16.png")
    assert check_file(tmp_path / "grey16.png").analysis.verdict == "neutral_mono"


def test_transparent_pixels_do_not_count(tmp_path: Path) -> None:
    rgb = M.spot(M.neutral(M.scene()), 0.02, M.RED, centre=(0.5, 0.5), shaded=False)
    alpha = np.where(M.disc_mask(rgb.shape[:2], 0.03, (0.5, 0.5)), 0, 255).astype(np.uint8)
    rgba = np.dstack([np.round(rgb * 255).astype(np.uint8), alpha])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    assert check_file(tmp_path / "cutout.png").analysis.verdict == "neutral_mono"


def test_cmyk_and_tiff_files_are_read(tmp_path: Path) -> None:
    rgb = M.spot(M.neutral(M.scene()), 0.01, M.BLUE, centre=(0.7, 0.7))
    Image.fromarray(np.round(rgb * 255).astype(np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=92)
    cmyk = check_file(tmp_path / "cmyk.jpg").analysis
    assert cmyk.colour_space == "CMYK without a profile: naive conversion" and cmyk.verdict == "not_mono"
    tiff = check_file(M.save(rgb, tmp_path / "entry.tif")).analysis
    assert tiff.verdict == "not_mono" and tiff.regions[0].colour == "blue"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "cannot read it as an image"), (b"\xff\xd8\xff\xe0 truncated jpeg", "cannot read it as an image")],
)
def test_a_file_that_is_not_an_image_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as caught:
        load_lab(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(DecodeError, match="no such file"):
        load_lab(tmp_path / "missing.jpg")


# ---- measured words ----------------------------------------------------------------------------------------


@given(st.floats(min_value=-720, max_value=720, allow_nan=False))
@settings(max_examples=200)
def test_every_hue_has_one_family_and_its_neighbours(hue: float) -> None:
    family = words.colour_family(hue)
    assert family in words.FAMILIES
    assert family in words.neighbours(family) and len(words.neighbours(family)) == 3


@pytest.mark.parametrize(
    ("rgb", "family"),
    [
        ((255, 0, 0), "red"),
        ((255, 128, 0), "orange"),
        ((255, 255, 0), "yellow"),
        ((0, 200, 0), "green"),
        ((0, 255, 255), "cyan"),
        ((0, 0, 255), "blue"),
        ((255, 0, 255), "purple"),
        ((112, 66, 20), "orange"),
    ],
)
def test_named_colours_fall_in_their_family(rgb: tuple[int, int, int], family: str) -> None:
    _, a, b = srgb_to_lab(np.array([[rgb]], dtype=np.uint8))
    assert words.colour_family(math.degrees(math.atan2(float(b[0, 0]), float(a[0, 0])))) == family


@given(st.floats(0, 0.999), st.floats(0, 0.999))
def test_locations_follow_the_3x3_grid(fx: float, fy: float) -> None:
    where = words.location(fx * 900, fy * 600, 900, 600)
    row = "top" if fy < 1 / 3 else "bottom" if fy >= 2 / 3 else "centre"
    column = "left" if fx < 1 / 3 else "right" if fx >= 2 / 3 else "centre"
    assert where == ("centre" if row == column == "centre" else f"{row} {column}")


def test_strength_words_follow_the_documented_chroma() -> None:
    assert words.strength(T.STRENGTH_NOTICEABLE - 0.1) == "faint"
    assert words.strength(T.STRENGTH_NOTICEABLE) == "noticeable"
    assert words.strength(T.STRENGTH_STRONG) == "strong"
