"""Private APIs of dependencies we still rely on, each named here so an upgrade that breaks one fails this test
(and pyproject.toml pins an upper bound on the dependency)."""

from __future__ import annotations

import io

import pyexiv2
from PIL import Image


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "JPEG")
    return out.getvalue()


def test_pyexiv2_raw_tables_are_rows_of_bytes() -> None:
    """imageworks/metadata/exiv.py reads ``ImageData._exiv2api_image.read_xmp/iptc/exif()``: pyexiv2's public
    ``read_*`` decode every value as UTF-8 and raise on Latin-1 bytes, so we decode each raw value ourselves. The
    assumption: the private attribute exists and yields dicts with ``tag`` and ``value`` as bytes (lists of bytes for
    XMP arrays)."""
    data = _jpeg()
    with pyexiv2.ImageData(data) as img:
        img.modify_xmp({"Xmp.dc.subject": ["a", "b"], "Xmp.dc.title": {'lang="x-default"': "t"}})
        img.modify_iptc({"Iptc.Application2.Keywords": ["k"]})
        data = img.get_bytes()
    img = pyexiv2.ImageData(data)
    try:
        native = img._exiv2api_image
        xmp, iptc = native.read_xmp(), native.read_iptc()
        assert isinstance(native.read_exif(), list)
    finally:
        img.close()
    subject = next(r for r in xmp if r["tag"] == b"Xmp.dc.subject")
    assert subject["value"] == [b"a", b"b"]
    keywords = next(r for r in iptc if r["tag"] == b"Iptc.Application2.Keywords")
    assert keywords["value"] == b"k"
