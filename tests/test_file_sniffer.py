"""One sniffer of file types (imageworks.metadata.formats.sniff) for the metadata writer and the scan's probes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from imageworks.metadata import formats
from imageworks.scan.probe import ProbeError, check_image_file

HEADERS = {
    "bigtiff": b"II+\x00\x08\x00\x00\x00" + bytes(8),
    "heif": b"\x00\x00\x00\x18ftypheic" + bytes(4),
}


@pytest.mark.parametrize(("fmt", "suffix"), [("jpeg", "jpg"), ("png", "png"), ("tiff", "tif"), ("webp", "webp")])
def test_pillow_files_are_told_by_their_bytes_not_their_names(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = tmp_path / f"photo.{suffix}"
    Image.new("RGB", (8, 6), "red").save(path)
    misnamed = path.rename(tmp_path / "photo.dat")
    assert formats.sniff_file(misnamed) == fmt
    check_image_file(str(misnamed))  # the scan's probe accepts it


def test_formats_without_embedded_metadata_writes_are_known_but_refused_for_writing(tmp_path: Path) -> None:
    for fmt, head in HEADERS.items():
        path = tmp_path / f"x.{fmt}"
        path.write_bytes(head + bytes(64))
        assert formats.sniff(head) == fmt and fmt not in formats.IN_FILE_FORMATS
        check_image_file(str(path))  # an image the scan lists and probes
        with pytest.raises(md.MetadataError, match="not a JPEG, TIFF, PNG or WebP file"):
            md.plan(path, md.Proposed(keywords=["x"]), "merge", options=MetadataConfig())


def test_text_and_riff_files_that_are_not_webp_are_no_images(tmp_path: Path) -> None:
    assert formats.sniff(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert formats.sniff(b"\x00\x00\x00\x00WEBPVP8 ") is None  # WEBP needs its RIFF header
    text = tmp_path / "notes.jpg"
    text.write_text("hello, not a photo")
    with pytest.raises(ProbeError, match="not an image: text"):
        check_image_file(str(text))
