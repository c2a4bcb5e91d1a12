"""RAW and multi-image files give the model a real picture: DNGs made here (pidng, laid out as cameras do: a
thumbnail in IFD0, the Bayer mosaic in a SubIFD, a JPEG preview in IFD1) through libraw, a TIFF whose first IFD is
a thumbnail, HEIC where pillow-heif is installed; never the thumbnail Pillow alone would hand over."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from imageworks.daemon.backends.images import ImageReadError, open_image
from tests.raw_files import write_dng

CAP = 1024 * 28 * 28  # the default model.max_pixels
DEMO_CAP = 84 * 84  # the demo model's


def scene(size: tuple[int, int], colour: str, background: str) -> Image.Image:
    image = Image.new("RGB", size, background)
    w, h = size
    ImageDraw.Draw(image).ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=colour)
    return image


def centre_and_corner(image: Image.Image) -> tuple[tuple[int, ...], tuple[int, ...]]:
    centre, corner = image.getpixel((image.width // 2, image.height // 2)), image.getpixel((2, 2))
    assert isinstance(centre, tuple) and isinstance(corner, tuple)  # RGB
    return centre, corner


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


GREEN_THUMBNAIL = Image.new("RGB", (160, 106), "green")


def test_a_dng_with_a_big_preview_shows_the_preview_not_ifd0s_thumbnail(tmp_path: Path) -> None:
    path = write_dng(
        tmp_path / "a.dng",
        scene((1200, 800), "red", "blue"),
        thumbnail=GREEN_THUMBNAIL,
        preview=scene((1024, 682), "yellow", "black"),
    )
    assert Image.open(path).size == (160, 106)  # Pillow alone: IFD0's thumbnail
    image = open_image(str(path), CAP)
    assert image.size == (1024, 682)
    centre, corner = centre_and_corner(image)
    assert near(centre, (255, 255, 0)) and near(corner, (0, 0, 0))


def test_the_preview_is_turned_as_the_photo_is_viewed(tmp_path: Path) -> None:
    path = write_dng(
        tmp_path / "portrait.dng",
        scene((1200, 800), "red", "blue"),
        thumbnail=GREEN_THUMBNAIL,
        preview=scene((1024, 682), "yellow", "black"),
        orientation=6,  # rotate 90° clockwise to view
    )
    assert open_image(str(path), CAP).size == (682, 1024)


def test_without_a_big_enough_preview_the_mosaic_is_demosaiced_at_half_size(tmp_path: Path) -> None:
    mosaic_only = write_dng(tmp_path / "m.dng", scene((1200, 800), "red", "blue"), thumbnail=GREEN_THUMBNAIL)
    small_preview = write_dng(
        tmp_path / "s.dng",
        scene((1200, 800), "red", "blue"),
        thumbnail=GREEN_THUMBNAIL,
        preview=scene((400, 266), "yellow", "black"),  # fewer pixels than the half-size picture and the cap
    )
    for path in (mosaic_only, small_preview):
        image = open_image(str(path), CAP)
        assert image.size == (600, 400)
        centre, corner = centre_and_corner(image)
        assert near(centre, (255, 0, 0), 70) and near(corner, (0, 0, 255), 70)  # the sensor's picture
    portrait = write_dng(tmp_path / "p.dng", scene((1200, 800), "red", "blue"), orientation=6)
    assert open_image(str(portrait), CAP).size == (400, 600)


def test_a_preview_with_the_pixels_the_model_sees_is_enough(tmp_path: Path) -> None:
    path = write_dng(
        tmp_path / "s.dng",
        scene((1200, 800), "red", "blue"),
        thumbnail=GREEN_THUMBNAIL,
        preview=scene((400, 266), "yellow", "black"),
    )
    image = open_image(str(path), DEMO_CAP)  # the demo model sees 84x84: a 400 px preview has plenty
    assert image.width * image.height <= DEMO_CAP
    assert near(centre_and_corner(image)[0], (255, 255, 0))


def test_ifd0s_thumbnail_is_never_the_picture_even_when_it_is_all_there_is(tmp_path: Path) -> None:
    path = write_dng(
        tmp_path / "t.dng", scene((400, 300), "red", "blue"), thumbnail=Image.new("RGB", (256, 192), "green")
    )
    image = open_image(str(path), DEMO_CAP)  # the 256 px thumbnail would cover the cap: still the mosaic
    assert not near(centre_and_corner(image)[0], (0, 128, 0))
    assert near(centre_and_corner(image)[0], (255, 0, 0), 70)


def test_a_tiff_whose_first_ifd_is_a_thumbnail_gives_its_full_image(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    Image.new("RGB", (160, 120), "green").save(
        path, save_all=True, append_images=[scene((1600, 1200), "red", "blue")], compression="tiff_deflate"
    )
    assert Image.open(path).size == (160, 120)  # Pillow alone: the first IFD
    image = open_image(str(path), CAP)
    assert image.width > 1000
    centre, corner = centre_and_corner(image)
    assert near(centre, (255, 0, 0), 10) and near(corner, (0, 0, 255), 10)


def test_a_broken_raw_file_fails_alone_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.nef"
    path.write_bytes(b"II*\x00" + b"\x00" * 200)
    with pytest.raises(ImageReadError, match=r"cannot decode RAW file .*broken\.nef: ") as err:
        open_image(str(path), CAP)
    assert "\n" not in str(err.value)
    cr3 = tmp_path / "fake.cr3"
    cr3.write_bytes(b"\x00\x00\x00\x18ftypcrx " + b"\x00" * 100)
    with pytest.raises(ImageReadError, match=r"cannot decode RAW file .*fake\.cr3"):
        open_image(str(cr3), CAP)


def test_a_sensor_beyond_max_image_pixels_is_refused_before_demosaicing(tmp_path: Path) -> None:
    path = write_dng(tmp_path / "big.dng", scene((1200, 800), "red", "blue"))
    with pytest.raises(ImageReadError, match=r"1200x800 is 960,000 pixels, more than the 500,000 allowed"):
        open_image(str(path), CAP, max_image_pixels=500_000)


def test_heic_opens_through_pillow_heif(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "photo.heic"
    pillow_heif.from_pillow(scene((640, 480), "red", "blue")).save(path, quality=90)
    image = open_image(str(path), CAP)
    assert image.size == (640, 480)
    centre, corner = centre_and_corner(image)
    assert near(centre, (255, 0, 0), 40) and near(corner, (0, 0, 255), 40)
