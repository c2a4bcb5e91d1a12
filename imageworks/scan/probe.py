"""Lazy per-file probes: "does this file already carry keywords or a caption?" and pixel dimensions.

The cache calls them on demand and keeps the answer until the file's size or mtime (or a RAW file's sidecar)
changes. Each raises ``ProbeError`` with a one-line reason for a file it can't read. ``has_metadata`` is the
default probe; any ``Callable[[str], bool]`` can replace it (e.g. one built on ``imageworks.metadata.read``).
"""

from __future__ import annotations

import os

from imageworks.scan.records import RAW_EXTENSIONS, is_plain_utf8

XMP_KEYS = ("Xmp.dc.subject", "Xmp.dc.title", "Xmp.dc.description")
IPTC_KEYS = ("Iptc.Application2.Keywords", "Iptc.Application2.Caption")

_MAGIC = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"II*\x00"),  # TIFF (and TIFF-based RAW), little-endian
    (0, b"MM\x00*"),
    (0, b"II+\x00"),  # BigTIFF
    (0, b"MM\x00+"),
    (8, b"WEBP"),
    (4, b"ftyp"),  # HEIC / HEIF / AVIF
)


class ProbeError(Exception):
    """A file could not be probed; ``str(err)`` is the one-line reason."""


def is_raw(path: str) -> bool:
    return path.rpartition(".")[2].lower() in RAW_EXTENSIONS


def sidecars(path: str) -> list[str]:
    """The ``.xmp`` sidecars of a RAW file that exist: ``IMG_1.xmp`` (Lightroom) and ``IMG_1.NEF.xmp`` (darktable)."""
    stem = path.rpartition(".")[0]
    found = []
    for candidate in (f"{stem}.xmp", f"{stem}.XMP", f"{path}.xmp", f"{path}.XMP"):
        if os.path.isfile(candidate) and candidate not in found:
            found.append(candidate)
    return found


def sidecar_signature(path: str) -> str:
    """What a RAW file's cached probe also depends on: its sidecars' names, sizes and mtimes ('' for none)."""
    parts = []
    for sidecar in sidecars(path):
        try:
            st = os.stat(sidecar)
        except OSError:
            continue
        parts.append(f"{os.path.basename(sidecar)}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def check_image_file(path: str) -> None:
    """Raise ProbeError for an empty file or (for non-RAW files) one whose first bytes are no image format we know."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ProbeError(f"cannot open ({exc.strerror or exc})") from None
    if not head:
        raise ProbeError("empty file (0 bytes)")
    if is_raw(path):
        return  # too many RAW containers to sniff; exiv2 says if it can't read one
    if not any(head[offset : offset + len(magic)] == magic for offset, magic in _MAGIC):
        preview = head[:8].decode("ascii", "replace")
        kind = "text" if head[:8].decode("utf-8", "replace").isprintable() else "unknown data"
        raise ProbeError(f"not an image: {kind} ({preview!r}...)")


def _has_text(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_text(v) for v in value)
    return False


_quieted = False


def _open_exiv2(path: str):
    import pyexiv2

    global _quieted
    if not _quieted:  # exiv2 prints warnings on stderr (it would scribble over the TUI); errors still raise
        pyexiv2.set_log_level(3)
        _quieted = True
    if is_plain_utf8(path):
        return pyexiv2.Image(path)
    with open(path, "rb") as fh:  # pyexiv2 encodes names as UTF-8: undecodable names go through memory
        return pyexiv2.ImageData(fh.read())


def _open_checked(path: str):
    try:
        return _open_exiv2(path)
    except FileNotFoundError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ProbeError(f"cannot read metadata ({reason})") from None


def embedded_text(path: str) -> bool:
    """True when the file's XMP or IPTC holds keywords, a title or a description."""
    image = _open_checked(path)
    try:
        xmp = image.read_xmp()
        iptc = image.read_iptc()
    except (RuntimeError, UnicodeDecodeError, ValueError) as exc:
        raise ProbeError(f"cannot read metadata ({exc})") from None
    finally:
        image.close()
    return any(_has_text(xmp.get(k)) for k in XMP_KEYS) or any(_has_text(iptc.get(k)) for k in IPTC_KEYS)


def has_metadata(path: str) -> bool:
    """The default "already tagged?" probe: XMP dc:subject/title/description or IPTC Keywords/Caption in the file,
    or, for a RAW file, in its ``.xmp`` sidecar first. Raises FileNotFoundError or ProbeError."""
    if is_raw(path):
        for sidecar in sidecars(path):
            try:
                if embedded_text(sidecar):
                    return True
            except ProbeError:
                continue  # a broken sidecar is no evidence either way: look at the RAW file itself
    check_image_file(path)
    return embedded_text(path)


def image_dimensions(path: str) -> tuple[int, int]:
    """(width, height) from the file header (Pillow; exiv2 for RAW files). Raises FileNotFoundError or ProbeError."""
    check_image_file(path)
    if is_raw(path):
        image = _open_checked(path)
        try:
            size = (image.get_pixel_width(), image.get_pixel_height())
        finally:
            image.close()
        if not all(size):
            raise ProbeError("no pixel dimensions in this RAW file")
        return size
    from PIL import Image, UnidentifiedImageError

    try:
        import pillow_heif  # optional: HEIC/HEIF support

        pillow_heif.register_heif_opener()
    except ImportError:
        pass
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ProbeError(f"not a readable image ({exc})") from None
