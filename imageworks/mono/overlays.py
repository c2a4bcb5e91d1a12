"""Overlays of a mono check, as JPEGs (quality 90, full-resolution colour) at the analysed size in the cache dir, never
beside the photos (JPEG: a tenth of PNG's encoding time, which was most of a check's cost):

- the chroma heatmap: the photo in grey, tinted by how much colour each pixel has (C*: 0 clear, 2 faint blue,
  through yellow to white at 30 and above) — where the colour is;
- the residual map: the photo in grey, dimmed, with every pixel off the toning curve in magenta (stronger as it
  strays further) and each reported region boxed and numbered — what makes the picture fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from imageworks.mono import thresholds as T
from imageworks.mono.check import Checked
from imageworks.mono.result import Overlays

HEAT_TOP = 30.0
"""C* shown at full heat."""

_HEAT_AT = (0.0, T.NEUTRAL_CHROMA, 8.0, 16.0, HEAT_TOP)
_HEAT_RGB = np.array([(0, 0, 0), (20, 40, 160), (200, 30, 30), (250, 170, 20), (255, 255, 255)], dtype=np.float32)


def _heat(chroma: np.ndarray) -> np.ndarray:
    out = np.empty((*chroma.shape, 3), dtype=np.float32)
    for channel in range(3):
        out[..., channel] = np.interp(chroma, _HEAT_AT, _HEAT_RGB[:, channel])
    return out


def _grey(checked: Checked, dim: float) -> np.ndarray:
    """The picture's lightness as grey (0-255), dimmed, H×W×1: the backdrop both overlays paint on."""
    return (checked.maps.lightness * np.float32(2.55 * dim))[..., None]


def chroma_heatmap(checked: Checked) -> Image.Image:
    grey = _grey(checked, 0.45)
    chroma = checked.maps.chroma
    heat = _heat(chroma)
    weight = np.clip(chroma / np.float32(T.NEUTRAL_CHROMA), 0, 1)[..., None]
    out = grey * (1 - weight) + heat * weight
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def residual_map(checked: Checked) -> Image.Image:
    maps = checked.maps
    grey = _grey(checked, 0.35)
    strength = np.clip(maps.residual / np.float32(3 * T.RESIDUAL_FAIL), 0, 1)[..., None]
    strength = np.where(maps.residual[..., None] >= T.RESIDUAL_OFF, np.maximum(strength, 0.45), strength * 0.3)
    magenta = np.array([255, 0, 200], dtype=np.float32)
    out = grey * (1 - strength) + magenta * strength
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    analysis = checked.analysis
    if analysis.regions:
        draw = ImageDraw.Draw(image)
        sx = analysis.analysed[0] / max(1, analysis.size[0])
        sy = analysis.analysed[1] / max(1, analysis.size[1])
        for number, region in enumerate(analysis.regions, start=1):
            x, y, w, h = region.bbox
            box = (x * sx - 2, y * sy - 2, (x + w) * sx + 2, (y + h) * sy + 2)
            colour = (255, 255, 0) if region.level == "fail" else (0, 220, 255)
            draw.rectangle(box, outline=colour, width=2)
            draw.text((box[0] + 3, box[1] + 2), str(number), fill=colour)
    return image


NARRATED_REGIONS = 6
"""Regions drawn for the narrator per photo (the largest): beyond that a person reads the overlay."""
REGION_MIN_CROP = 0.3
"""A crop shows at least this share of the analysed picture's long side round its region (~220 px), so the model
sees what the colour is on and its context. Crops come from the analysed pixels: no second decode."""


def region_pictures(checked: Checked, stem: Path) -> list[str]:
    """For each of the largest regions, ``<stem>.region-<n>.jpg``: the picture round it (a yellow box on the region)
    beside the same crop of the residual map, so the model can name the object the colour is on."""
    analysis = checked.analysis
    regions = analysis.regions[:NARRATED_REGIONS]
    if not regions:
        return []
    photo = Image.fromarray(checked.maps.rgb, "RGB")
    residual = residual_map(checked)
    width, height = photo.size
    sx, sy = width / analysis.size[0], height / analysis.size[1]
    written = []
    for number, region in enumerate(regions, start=1):
        x, y, w, h = region.bbox[0] * sx, region.bbox[1] * sy, region.bbox[2] * sx, region.bbox[3] * sy
        side = min(max(w, h, REGION_MIN_CROP * max(width, height)) * 1.6, max(width, height))
        left = min(max(0.0, x + w / 2 - side / 2), max(0.0, width - side))
        top = min(max(0.0, y + h / 2 - side / 2), max(0.0, height - side))
        box = (round(left), round(top), round(left + side), round(top + side))  # inside the frame where it fits
        crop = photo.crop(box)
        ImageDraw.Draw(crop).rectangle(
            (x - box[0] - 2, y - box[1] - 2, x + w - box[0] + 2, y + h - box[1] + 2), outline=(255, 230, 0), width=2
        )
        picture = Image.new("RGB", (crop.width * 2 + 6, crop.height), (0, 0, 0))
        picture.paste(crop, (0, 0))
        picture.paste(residual.crop(box), (crop.width + 6, 0))
        target = stem.with_name(f"{stem.name}.region-{number}.jpg")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        picture.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, target)
        written.append(str(target))
    return written


def overlay_dir() -> Path:
    from imageworks import paths

    return paths.mono_overlays_dir()


def write(checked: Checked, key: str, directory: Path | None = None) -> Overlays:
    """Write both overlays as ``<key>.chroma.jpg`` and ``<key>.residual.jpg`` (atomically), and the narrator's region
    pictures; return their paths."""
    where = directory if directory is not None else overlay_dir()
    where.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, image in (("chroma", chroma_heatmap(checked)), ("residual", residual_map(checked))):
        target = where / f"{key}.{name}.jpg"
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        image.save(tmp, format="JPEG", quality=90, subsampling=0)
        os.replace(tmp, target)
        written[name] = str(target)
    regions = region_pictures(checked, where / key)
    return Overlays(chroma=written["chroma"], residual=written["residual"], regions=regions)
