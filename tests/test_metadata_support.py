"""Helpers for the metadata tests (no tests here): real images made by Pillow, Lightroom-style metadata put in by
exiftool, and exiftool (`-j -G1`) as the independent reader of what we wrote."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool not installed (make system-deps)"
)

# Unicode that breaks naive writers: Latin accents, CJK, an astral emoji, a ZWJ family, a combining accent.
UNICODE_CAPTION = "Füße am Strand, 日本の海 🌊 — 👨‍👩‍👧 cafe\u0301"


def exiftool(*paths: Path, args: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", "-struct", *args, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(out.stdout or "[]")


def exif_one(path: Path, *args: str) -> dict[str, Any]:
    return exiftool(path, args=args)[0]


def exiftool_write(path: Path, *assignments: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *assignments, str(path)], check=True, capture_output=True)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(path) as im:
        return im.mode, im.size, im.tobytes()


def jpeg_scan(path: Path) -> bytes:
    """Bytes from the first SOS marker to the end: the compressed scan data (and EOI)."""
    data = path.read_bytes()
    pos = 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return data[pos:]


def make_jpeg(path: Path, *, mode: str = "RGB", progressive: bool = False, size: tuple[int, int] = (96, 64)) -> Path:
    colour = (10, 120, 200, 30) if mode == "CMYK" else (10, 120, 200)
    im = Image.new(mode, size, colour[: len(mode)])
    im.paste(Image.new(mode, (20, 20), (250, 10, 10, 0)[: len(mode)]), (5, 5))
    im.save(path, "JPEG", quality=85, progressive=progressive)
    return path


def make_image(path: Path, fmt: str) -> Path:
    if fmt == "jpeg":
        return make_jpeg(path)
    im = Image.new("RGB", (80, 60), (30, 160, 90))
    im.paste(Image.new("RGB", (10, 30), (250, 250, 0)), (40, 10))
    if fmt == "tiff":
        im.save(path, "TIFF")
    elif fmt == "png":
        im.save(path, "PNG")
    elif fmt == "webp":
        im.save(path, "WEBP", lossless=True)
    else:
        raise ValueError(fmt)
    return path


def make_tiff16(path: Path) -> Path:
    im = Image.new("I;16", (64, 48))
    im.putdata([(x * 997 + y * 131) % 65536 for y in range(48) for x in range(64)])
    im.save(path, "TIFF")
    return path


def make_png_with_itxt(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Comment", "Pêcheurs — 日本 🎣", lang="fr", tkey="Commentaire")
    info.add_text("Software", "Pillow test")
    Image.new("RGB", (50, 40), (200, 100, 50)).save(path, "PNG", pnginfo=info)
    return path


def lightroom_style(path: Path) -> Path:
    """What a photo that went through Lightroom and a camera carries: XMP keywords with a hierarchy, a creator and
    rights, IPTC by-line and city, EXIF orientation, camera, artist, copyright and GPS."""
    exiftool_write(
        path,
        "-XMP-dc:Subject=Anna",
        "-XMP-dc:Subject=Holiday",
        "-XMP-lr:HierarchicalSubject=People|Anna",
        "-XMP-lr:HierarchicalSubject=Holiday",
        "-XMP-dc:Creator=Jane Doe",
        "-XMP-dc:Rights=© Jane Doe",
        "-XMP-xmp:Rating=4",
        "-XMP-xmp:CreatorTool=Adobe Photoshop Lightroom Classic 13.0",
        "-XMP-photoshop:City=Zürich",
        "-IPTC:Keywords=Anna",
        "-IPTC:Keywords=Holiday",
        "-IPTC:By-line=Jane Doe",
        "-IPTC:City=Zürich",
        "-IPTC:CodedCharacterSet=UTF8",
        "-EXIF:Orientation#=6",
        "-EXIF:Make=Canon",
        "-EXIF:Model=Canon EOS R5",
        "-EXIF:Artist=Jane Doe",
        "-EXIF:Copyright=© Jane Doe",
        "-EXIF:DateTimeOriginal=2024:07:01 10:20:30",
        "-EXIF:FNumber=5.6",
        "-GPSLatitude=47.3769",
        "-GPSLatitudeRef=N",
        "-GPSLongitude=8.5417",
        "-GPSLongitudeRef=E",
        "-Photoshop:IPTCDigest=new",
    )
    return path


def xp_text(path: Path, tag: int) -> str:
    """A Windows XP* tag decoded from raw EXIF bytes by Pillow (exiftool prints astral emoji there as '?')."""
    with Image.open(path) as im:
        raw = im.getexif().get(tag)
    if raw is None:
        return ""
    data = bytes(raw) if not isinstance(raw, bytes) else raw
    return data.decode("utf-16-le").rstrip("\x00")


XP_TITLE_TAG = 0x9C9B
XP_COMMENT_TAG = 0x9C9C
XP_KEYWORDS_TAG = 0x9C9E
XP_SUBJECT_TAG = 0x9C9F
