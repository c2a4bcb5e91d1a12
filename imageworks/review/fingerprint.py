"""The fingerprint of an image file: its pixels, not its metadata.

A draft is stale when the photo itself changed (edited and re-saved), never because another program set a Rating
or a keyword (Lightroom, digiKam and exiftool rewrite the metadata all day; our own writes do too). So the hash is
over the image data a metadata write leaves alone, as the writer's own guard defines it (``formats.image_data``):
a JPEG's scan data (its length, first and last MiB: a re-encode changes both), a PNG's image chunks (their CRCs),
a TIFF's strips, a WebP's image chunks. A RAW file is never written by ImageWorks (its metadata goes to a
sidecar): its first and last MiB stand for it, as for any file the writer does not know.

``head_tail`` (the whole file's first and last MiB) is what drafts made before the pixel hash kept; such a draft is
still judged by it (``commit.staleness``) until its next approval or write gives it a pixel hash.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

from imageworks.metadata import MetadataError, formats
from imageworks.review.drafts import FileFingerprint
from imageworks.scan.records import mtime_ns_of

HASHED_BYTES = 1 << 20
"""How much of each end goes into a hash (1 MiB)."""
_PNG_METADATA = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"})


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


def _ends(fh: BinaryIO, start: int, end: int, digest: _Digest) -> None:
    """Hash the length of ``[start, end)`` and its first and last MiB."""
    digest.update((end - start).to_bytes(8, "little"))
    fh.seek(start)
    digest.update(fh.read(min(HASHED_BYTES, end - start)))
    if end - start > HASHED_BYTES:
        fh.seek(max(start + HASHED_BYTES, end - HASHED_BYTES))
        digest.update(fh.read(end - fh.tell()))


def head_tail_hash(path: str | os.PathLike[str], size: int | None = None) -> str:
    """blake2b (128 bits, hex) of the file's size, its first MiB and its last MiB (the whole file when smaller)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size if size is None else size
        _ends(fh, 0, total, digest)
    return digest.hexdigest()


def _jpeg_scan_start(fh: BinaryIO) -> int | None:
    """Where a JPEG's first SOS segment starts (walking the marker segments before it), or None."""
    fh.seek(2)
    while True:
        head = fh.read(4)
        while len(head) >= 2 and head[0] == 0xFF and head[1] == 0xFF:  # fill bytes
            head = head[1:] + fh.read(1)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        if head[1] == 0xDA:
            return fh.tell() - 4
        if 0xD0 <= head[1] <= 0xD7 or head[1] == 0x01:
            fh.seek(-2, os.SEEK_CUR)  # a marker without a length
            continue
        (length,) = struct.unpack(">H", head[2:4])
        fh.seek(length - 2, os.SEEK_CUR)


def _png_chunks(fh: BinaryIO, digest: _Digest) -> bool:
    """Hash every image chunk's type, length and CRC (the CRC covers its data); False if the file is cut short."""
    fh.seek(8)
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return False
        (length,) = struct.unpack(">I", head[:4])
        kind = head[4:8]
        fh.seek(length, os.SEEK_CUR)
        crc = fh.read(4)
        if len(crc) < 4:
            return False
        if kind not in _PNG_METADATA:
            digest.update(head + crc)
        if kind == b"IEND":
            return True


def pixel_hash(path: str | os.PathLike[str], size: int) -> str:
    """blake2b (128 bits, hex) of the image data a metadata write leaves alone (see the module docstring)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        magic = fh.read(12)
        if not formats.is_raw(Path(path)):
            if magic[:3] == b"\xff\xd8\xff" and (start := _jpeg_scan_start(fh)) is not None:
                digest.update(b"jpeg")
                _ends(fh, start, size, digest)
                return digest.hexdigest()
            if magic[:8] == b"\x89PNG\r\n\x1a\n" and _png_chunks(fh, digest):
                return digest.hexdigest()
            if magic[:4] in (b"II*\x00", b"MM\x00*") or (magic[:4] == b"RIFF" and magic[8:12] == b"WEBP"):
                whole = _image_data(path)
                if whole is not None:
                    digest.update(whole)
                    return digest.hexdigest()
        digest = hashlib.blake2b(digest_size=16)  # a RAW, an unknown or damaged file: the file itself
        digest.update(b"file")
        _ends(fh, 0, size, digest)
    return digest.hexdigest()


def _image_data(path: str | os.PathLike[str]) -> bytes | None:
    """A TIFF's or WebP's image data as the metadata writer's guard defines it (the whole file is read)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        kind = formats.sniff(data)
        return repr(formats.image_data(data, kind)).encode() if kind else None
    except MetadataError:
        return None


def file_fingerprint(path: str | os.PathLike[str], *, whole: bool = False) -> FileFingerprint:
    """The file as it is now: size, mtime and its pixel hash (with ``whole``, also the whole file's head and tail,
    to judge a draft made before pixel hashes). Raises OSError when it cannot be read."""
    st = os.stat(path)
    return FileFingerprint(
        size=st.st_size,
        mtime_ns=mtime_ns_of(st),
        head_tail=head_tail_hash(path, st.st_size) if whole else "",
        pixels=pixel_hash(path, st.st_size),
    )


def generation_fingerprint(path: str | os.PathLike[str], size: int, mtime_ns: int) -> FileFingerprint:
    """What a draft keeps for a tag result made from the file at (``size``, ``mtime_ns``), as the scan cache saw
    it: hashed now while the file is still that one; if it changed meanwhile (or is gone), without a hash, so the
    commit's staleness check finds it changed."""
    unhashed = FileFingerprint(size=size, mtime_ns=mtime_ns)
    try:
        now = file_fingerprint(path)
    except OSError:
        return unhashed
    return now if (now.size, now.mtime_ns) == (size, mtime_ns) else unhashed
