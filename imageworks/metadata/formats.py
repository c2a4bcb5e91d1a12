"""File formats: what a file is (by its bytes, not its name), where a RAW file's sidecar goes, whether a file is
whole, and the image data that must come out of a metadata write byte for byte as it went in."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

from imageworks.metadata.plan import MetadataError

IN_FILE_FORMATS = ("jpeg", "tiff", "png", "webp")

# RAW files are never modified: their metadata goes to an .xmp sidecar. (CR2, NEF, DNG, ... are TIFF inside, so
# the extension decides, not the bytes.)
RAW_EXTENSIONS = frozenset(
    ".3fr .ari .arw .bay .cr2 .cr3 .crw .dcr .dcs .dng .erf .fff .iiq .k25 .kdc .mdc .mef .mos .mrw .nef .nrw .orf "
    ".pef .ptx .raf .raw .rw2 .rwl .sr2 .srf .srw .x3f".split()
)


SNIFF_BYTES = 16
"""How many leading bytes ``sniff`` needs."""

# (offset, magic, format): a file is what its first bytes say, whatever its name
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"II*\x00", "tiff"),  # TIFF (and the TIFF-based RAW formats), little-endian
    (0, b"MM\x00*", "tiff"),
    (0, b"II+\x00", "bigtiff"),
    (0, b"MM\x00+", "bigtiff"),
    (8, b"WEBP", "webp"),  # after "RIFF" and the chunk size (checked in sniff)
    (4, b"ftyp", "heif"),  # HEIC / HEIF / AVIF
)


def sniff(data: bytes) -> str | None:
    """The image format ``data`` (a file's first ``SNIFF_BYTES`` or more) starts with: ``jpeg``, ``png``, ``tiff``,
    ``bigtiff``, ``webp`` or ``heif``; ``None`` for anything else. Only ``IN_FILE_FORMATS`` take embedded metadata;
    RAW containers are many and are told by their extension (``is_raw``)."""
    for offset, magic, fmt in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (fmt != "webp" or data[:4] == b"RIFF"):
            return fmt
    return None


def sniff_file(path: str | os.PathLike[str]) -> str | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(SNIFF_BYTES))


def is_raw(path: str | os.PathLike[str]) -> bool:
    """A RAW file, by its extension (never modified: its metadata goes to a sidecar)."""
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS


def sidecar_path(path: Path) -> Path:
    """The sidecar for ``path``. A RAW file's is ``IMG_0001.xmp`` (the name Lightroom and Capture One read, and
    darktable and digiKam import); any other photo's is ``photo.jpg.xmp``, so ``IMG_0001.JPG`` next to
    ``IMG_0001.CR2`` never shares the RAW's. An existing sidecar with an upper-case ``.XMP`` is reused."""
    name = path.stem if is_raw(path) else path.name
    for suffix in (".xmp", ".XMP"):
        candidate = path.with_name(name + suffix)
        if candidate.exists():
            return candidate
    return path.with_name(name + ".xmp")


def raw_sidecars(path: str) -> list[str]:
    """The ``.xmp`` sidecars of a RAW file that exist, as readers name them: ``IMG_1.xmp`` (Lightroom, Capture One,
    and ours) and ``IMG_1.NEF.xmp`` (darktable); none for any other photo."""
    if not is_raw(path):
        return []
    stem = os.path.splitext(path)[0]
    found: list[str] = []
    for candidate in (f"{stem}.xmp", f"{stem}.XMP", f"{path}.xmp", f"{path}.XMP"):
        if os.path.isfile(candidate) and candidate not in found:
            found.append(candidate)
    return found


# --- is the file whole? ---------------------------------------------------------------------------------------


def _corrupt(fmt: str, why: str) -> MetadataError:
    return MetadataError(f"{why}: the {fmt.upper()} file looks truncated or corrupt; not writing", code="corrupt")


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """Marker segments before the first SOS as (marker, start, end), and where the SOS segment starts."""
    segments: list[tuple[int, int, int]] = []
    pos = 2
    while True:
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise _corrupt("jpeg", "no image data found")
        marker = data[pos + 1]
        if marker == 0xDA:
            return segments, pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise _corrupt("jpeg", "a header segment runs past the end of the file")
        segments.append((marker, pos, end))
        pos = end


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks = []
    pos = 8
    while pos < len(data):
        if pos + 12 > len(data):
            raise _corrupt("png", "a chunk is cut short")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise _corrupt("png", f"chunk {kind.decode('latin-1')!r} is cut short")
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise _corrupt("png", f"chunk {kind.decode('latin-1')!r} fails its checksum")
        chunks.append((kind, body))
        pos += 12 + length
        if kind == b"IEND":
            return chunks
    raise _corrupt("png", "no IEND chunk")


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    (riff_size,) = struct.unpack("<I", data[4:8])
    if riff_size + 8 > len(data):
        raise _corrupt("webp", f"RIFF size says {riff_size + 8} bytes, the file has {len(data)}")
    chunks = []
    pos = 12
    end = riff_size + 8
    while pos < end:
        if pos + 8 > end:
            raise _corrupt("webp", "a chunk header is cut short")
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + length > end:
            raise _corrupt("webp", f"chunk {kind.decode('latin-1')!r} is cut short")
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_OFFSETS = (273, 324)  # StripOffsets, TileOffsets
_TIFF_COUNTS = (279, 325)  # StripByteCounts, TileByteCounts
_TIFF_SUBIFDS = 330


def _tiff_blocks(data: bytes) -> list[bytes]:
    """The strips or tiles of every IFD (the chain from IFD0, and SubIFDs), in order: the compressed image data.
    Checks that each IFD and each strip lies inside the file."""
    order = "<" if data[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", data[4:8])
    todo, seen, blocks = [first], set(), []
    while todo:
        ifd = todo.pop(0)
        if ifd == 0 or ifd in seen:
            continue
        seen.add(ifd)
        if ifd + 2 > len(data):
            raise _corrupt("tiff", "an IFD lies past the end of the file")
        (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
        if ifd + 2 + 12 * count + 4 > len(data):
            raise _corrupt("tiff", "an IFD is cut short")
        values: dict[int, list[int]] = {}
        for i in range(count):
            entry = ifd + 2 + 12 * i
            tag, kind, n = struct.unpack(order + "HHI", data[entry : entry + 8])
            if tag not in (*_TIFF_OFFSETS, *_TIFF_COUNTS, _TIFF_SUBIFDS) or kind not in (3, 4, 13):
                continue
            size = _TIFF_TYPE_SIZES[kind] * n
            if size <= 4:
                raw = data[entry + 8 : entry + 8 + size]
            else:
                (where,) = struct.unpack(order + "I", data[entry + 8 : entry + 12])
                raw = data[where : where + size]
                if len(raw) != size:
                    raise _corrupt("tiff", f"tag {tag} points past the end of the file")
            values[tag] = list(struct.unpack(f"{order}{n}{'H' if kind == 3 else 'I'}", raw))
        offsets = next((values[t] for t in _TIFF_OFFSETS if t in values), [])
        counts = next((values[t] for t in _TIFF_COUNTS if t in values), [])
        for offset, length in zip(offsets, counts, strict=False):  # a short list is the file's problem, not ours
            if offset + length > len(data):
                raise _corrupt("tiff", "image data runs past the end of the file")
            blocks.append(data[offset : offset + length])
        todo.extend(values.get(_TIFF_SUBIFDS, []))
        (following,) = struct.unpack(order + "I", data[ifd + 2 + 12 * count : ifd + 6 + 12 * count])
        todo.append(following)
    if not blocks:
        raise _corrupt("tiff", "no image data found")
    return blocks


def validate(data: bytes, fmt: str, name: str) -> None:
    """Raise MetadataError(code="corrupt") for a file that is cut short or damaged: writing into it would hide the
    damage behind a fresh modification time."""
    try:
        _validate(data, fmt)
    except MetadataError as exc:
        raise MetadataError(f"{name}: {exc}", code=exc.code) from None


def _validate(data: bytes, fmt: str) -> None:
    if fmt == "jpeg":
        _, sos = _jpeg_segments(data)
        if data.find(b"\xff\xd9", sos) < 0:  # entropy-coded data never holds FF D9, so this is the real EOI
            raise _corrupt("jpeg", "no end-of-image marker")
    elif fmt == "png":
        _png_chunks(data)
    elif fmt == "webp":
        _webp_chunks(data)
    elif fmt == "tiff":
        _tiff_blocks(data)


# --- the image data a metadata write must not touch -----------------------------------------------------------

_PNG_METADATA_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf"})
_WEBP_METADATA_CHUNKS = frozenset({b"EXIF", b"XMP ", b"VP8X"})  # VP8X holds the "has EXIF/XMP" flags


def image_data(data: bytes, fmt: str) -> object:
    """What must stay identical: a JPEG's bytes from the first SOS marker to the end (scan data, EOI and any
    trailer); a PNG's or WebP's non-metadata chunks; a TIFF's strips or tiles (which may move, but not change)."""
    if fmt == "jpeg":
        _, sos = _jpeg_segments(data)
        return hashlib.sha256(data[sos:]).hexdigest()
    if fmt == "png":
        return [(k, hashlib.sha256(b).hexdigest()) for k, b in _png_chunks(data) if k not in _PNG_METADATA_CHUNKS]
    if fmt == "webp":
        return [(k, hashlib.sha256(b).hexdigest()) for k, b in _webp_chunks(data) if k not in _WEBP_METADATA_CHUNKS]
    if fmt == "tiff":
        return [hashlib.sha256(block).hexdigest() for block in _tiff_blocks(data)]
    raise ValueError(fmt)


def check_same_image(before: bytes, after: bytes, fmt: str, name: str) -> None:
    """Refuse exiv2's output unless the image data is what it was (a guard: exiv2 has never been seen to fail it)."""
    try:
        same = image_data(before, fmt) == image_data(after, fmt)
    except MetadataError as exc:
        raise MetadataError(f"{name}: after writing metadata: {exc}", code="internal") from None
    if not same:
        raise MetadataError(f"{name}: writing metadata would have changed the image data; not written", code="internal")


# --- Photoshop's IPTC digest ----------------------------------------------------------------------------------


def refresh_iptc_digest(data: bytes) -> bytes:
    """exiv2 leaves Photoshop's IPTCDigest (the MD5 of the IPTC block) stale, and a stale digest makes Lightroom and
    Photoshop treat the IPTC as edited elsewhere and copy it over the XMP. Where the file has a digest, update it
    in place (16 bytes, same length) as exiftool does."""
    segments, _ = _jpeg_segments(data)
    for marker, start, end in segments:
        if marker != 0xED or data[start + 4 : start + 18] != b"Photoshop 3.0\x00":
            continue
        resources = _photoshop_resources(data, start + 18, end)
        if 0x0404 in resources and 0x0425 in resources:
            iptc_start, iptc_end = resources[0x0404]
            digest_start, digest_end = resources[0x0425]
            if digest_end - digest_start == 16:
                digest = hashlib.md5(data[iptc_start:iptc_end], usedforsecurity=False).digest()
                return data[:digest_start] + digest + data[digest_end:]
    return data


def _photoshop_resources(data: bytes, pos: int, end: int) -> dict[int, tuple[int, int]]:
    found: dict[int, tuple[int, int]] = {}
    while pos + 12 <= end and data[pos : pos + 4] == b"8BIM":
        (rid,) = struct.unpack(">H", data[pos + 4 : pos + 6])
        name_len = data[pos + 6]
        pos += 6 + 1 + name_len + ((1 + name_len) & 1)  # Pascal name, padded to even
        if pos + 4 > end:
            break
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        body = pos + 4
        if body + size > end:
            break
        found[rid] = (body, body + size)
        pos = body + size + (size & 1)
    return found
