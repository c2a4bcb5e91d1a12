"""The mono checker on real photographs: scikit-image's greyscale samples (a cameraman, the moon, coins, brick,
grass, a clock), each made into the entries a club sees — a clean neutral print at JPEG q60 with grain, a sepia
and a cyanotype print, and the four colour works the original checker passed — then checked from the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imageworks.mono.check import check_file
from tests import mono_images as M


def verdict_of(rgb: np.ndarray, path: Path, quality: int = 85):
    return check_file(M.save(rgb, path, quality=quality)).analysis


@pytest.mark.parametrize("name", M.SAMPLES)
def test_clean_prints_of_real_photos_pass(tmp_path: Path, name: str) -> None:
    grey = M.sample(name)
    neutral = verdict_of(M.grain(M.neutral(grey), 0.03), tmp_path / "neutral.jpg", quality=60)
    assert neutral.verdict == "neutral_mono", f"{name}: {neutral.summary}"
    sepia = verdict_of(M.toned(grey, 68, 14), tmp_path / "sepia.jpg", quality=60)
    assert sepia.verdict == "toned_mono" and sepia.tone.name == "sepia", f"{name}: {sepia.summary}"
    blue = verdict_of(M.toned(grey, 285, 10), tmp_path / "blue.jpg", quality=60)
    assert blue.verdict == "toned_mono" and blue.tone.name == "cyanotype", f"{name}: {blue.summary}"


@pytest.mark.parametrize("name", M.SAMPLES)
def test_colour_works_made_from_real_photos_fail(tmp_path: Path, name: str) -> None:
    grey = M.sample(name)
    small = verdict_of(M.spot(M.neutral(grey), 0.0017, M.RED, centre=(0.8, 0.75)), tmp_path / "spot017.jpg")
    assert small.verdict == "not_mono" and small.reasons == ["spot_colour"], f"{name}: {small.summary}"
    assert (small.regions[0].colour, small.regions[0].location) == ("red", "bottom right")
    large = verdict_of(M.spot(M.neutral(grey), 0.015, M.RED, centre=(0.5, 0.2)), tmp_path / "spot15.jpg")
    assert large.verdict == "not_mono" and large.reasons == ["spot_colour"], f"{name}: {large.summary}"
    assert (large.regions[0].colour, large.regions[0].location) == ("red", "top centre")
    half = np.concatenate([M.toned(grey)[:, :768], M.neutral(grey)[:, 768:]], axis=1)
    halves = verdict_of(half, tmp_path / "half.jpg")
    assert halves.verdict == "not_mono" and "partial_toning" in halves.reasons, f"{name}: {halves.summary}"
    panel = verdict_of(M.panel(grey, (0.1, 0.1, 0.47, 0.55), hue=20), tmp_path / "panel.jpg")
    assert panel.verdict == "not_mono" and panel.reasons == ["partial_toning"], f"{name}: {panel.summary}"
    sepia_blue = verdict_of(M.spot(M.toned(grey), 0.003, M.BLUE, centre=(0.2, 0.5)), tmp_path / "sepia-blue.jpg")
    assert sepia_blue.verdict == "not_mono" and sepia_blue.regions[0].colour == "blue", f"{name}: {sepia_blue.summary}"
    split = verdict_of(M.split_toned(grey), tmp_path / "split.jpg")
    assert split.verdict == "not_mono", f"{name}: {split.summary}"
