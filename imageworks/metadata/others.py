"""A file's metadata other than the text ImageWorks writes: what another program (Lightroom, digiKam, exiftool)
may have set since a draft was made or written, so the review can say so ("Rating 3 added") instead of calling
the draft stale. A snapshot is a digest of every such tag and the values of the notable ones
(``file_state.changes_since`` says what changed between two)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from imageworks.metadata.plan import MetaSnapshot

NOTABLE: dict[str, str] = {
    "Xmp.xmp.Rating": "Rating",
    "Exif.Image.Rating": "Rating",
    "Xmp.xmp.Label": "Label",
    "Xmp.dc.creator": "Creator",
    "Iptc.Application2.Byline": "Creator",
    "Exif.Image.Artist": "Creator",
    "Xmp.dc.rights": "Copyright",
    "Iptc.Application2.Copyright": "Copyright",
    "Exif.Image.Copyright": "Copyright",
    "Xmp.photoshop.Headline": "Headline",
    "Iptc.Application2.Headline": "Headline",
    "Xmp.iptc.Location": "Location",
    "Iptc.Application2.SubLocation": "Location",
    "Xmp.photoshop.City": "City",
    "Iptc.Application2.City": "City",
    "Xmp.photoshop.State": "State",
    "Iptc.Application2.ProvinceState": "State",
    "Xmp.photoshop.Country": "Country",
    "Iptc.Application2.CountryName": "Country",
    "Exif.Image.Orientation": "Orientation",
}
"""exiv2 key → the name a person knows (the first key of a name that a file holds gives its value)."""

GROUPS = ("Xmp.", "Iptc.", "Exif.Image.", "Exif.Photo.", "Exif.GPSInfo.")
"""What a snapshot covers: not thumbnails, not maker notes (their bytes move when any tool rewrites the block)."""
IGNORED = frozenset(
    {
        "Exif.Image.ExifTag",  # offsets of sub-blocks: they move whenever a tool rewrites the EXIF block
        "Exif.Image.GPSTag",
        "Exif.Photo.InteroperabilityTag",
        "Exif.Photo.MakerNote",
        "Iptc.Envelope.ModelVersion",  # written by exiv2 itself with any IPTC change
        "Iptc.Application2.RecordVersion",
    }
)


def snapshot(tags: Iterable[tuple[str, str]], ours: frozenset[str]) -> MetaSnapshot:
    """The snapshot of ``tags`` (exiv2 key, value as text), leaving out ``ours`` (the keys ImageWorks writes)."""
    digest = hashlib.sha256()
    notable: dict[str, str] = {}
    for key, value in sorted(tags):
        if key in ours or key in IGNORED or key.startswith("Xmp.x.") or not key.startswith(GROUPS):
            continue
        digest.update(key.encode("utf-8", "replace") + b"\0" + value.encode("utf-8", "replace") + b"\0")
        name = NOTABLE.get(key)
        if name is not None and name not in notable and value.strip():
            notable[name] = " ".join(value.split())[:80]
    return MetaSnapshot(digest=digest.hexdigest()[:32], notable=notable)
