"""exiv2 (through pyexiv2, the engine digiKam uses) on bytes in memory: read our fields, apply field changes.

exiv2 never sees a path: we hand it the file's bytes and write its output ourselves (temp file, fsync, rename), so
odd file names cannot trip its path encoding and it can never leave a half-written photo behind.

Two pyexiv2 habits are worked around here, each in one place:
- its public ``read_*`` decode every tag as UTF-8 and raise on the first Latin-1 byte (old IPTC, camera EXIF), so
  we read exiv2's raw table and decode each value ourselves;
- it writes every list as an ordered ``rdf:Seq``, but dc:subject and lr:hierarchicalSubject are ``rdf:Bag``s; exiv2
  builds a Bag from ``type=Bag`` followed by indexed items (``Xmp.dc.subject[1]``), so we write them that way.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pyexiv2

from imageworks.metadata import fields as F
from imageworks.metadata import others
from imageworks.metadata import provenance as P
from imageworks.metadata.plan import FieldChange, MetadataError, MetaSnapshot, Value

NAMESPACE = "http://ns.imageworks.invalid/xmp/1.0/"
"""Our XMP namespace (prefix ``imageworks``). ``.invalid`` is a reserved domain: an identifier, not a web page."""

XMP_KEYS = {
    F.XMP_TITLE: "Xmp.dc.title",
    F.XMP_DESCRIPTION: "Xmp.dc.description",
    F.XMP_SUBJECT: "Xmp.dc.subject",
    F.XMP_HIERARCHICAL: "Xmp.lr.hierarchicalSubject",
    F.XMP_DIGIKAM_TAGS: "Xmp.digiKam.TagsList",
    P.PROV_MODEL: "Xmp.imageworks.Model",
    P.PROV_PROFILE: "Xmp.imageworks.Profile",
    P.PROV_PROFILE_VERSION: "Xmp.imageworks.ProfileVersion",
    P.PROV_DATE: "Xmp.imageworks.Date",
    P.PROV_TOOL: "Xmp.imageworks.Tool",
    P.PROV_DIGEST: "Xmp.imageworks.Digest",
}
XMP_LANG_ALT = frozenset({F.XMP_TITLE, F.XMP_DESCRIPTION})
XMP_BAGS = frozenset({F.XMP_SUBJECT, F.XMP_HIERARCHICAL})
IPTC_KEYS = {
    F.IPTC_CAPTION: "Iptc.Application2.Caption",
    F.IPTC_KEYWORDS: "Iptc.Application2.Keywords",
    F.IPTC_OBJECT_NAME: "Iptc.Application2.ObjectName",
    F.IPTC_CHARSET: "Iptc.Envelope.CharacterSet",
}
EXIF_KEYS = {
    F.EXIF_DESCRIPTION: "Exif.Image.ImageDescription",
    F.XP_TITLE: "Exif.Image.XPTitle",
    F.XP_SUBJECT: "Exif.Image.XPSubject",
    F.XP_COMMENT: "Exif.Image.XPComment",
    F.XP_KEYWORDS: "Exif.Image.XPKeywords",
}
ISO2022_UTF8 = b"\x1b%G"
XP_FIELDS = frozenset({F.XP_TITLE, F.XP_SUBJECT, F.XP_COMMENT, F.XP_KEYWORDS})
_BY_KEY = {key: name for table in (XMP_KEYS, IPTC_KEYS, EXIF_KEYS) for name, key in table.items()}

SIDECAR_SEED = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">\n' + b" " * 64 + b"\n</x:xmpmeta>\n"
"""What a new sidecar starts from: exiv2 opens only an existing XMP document (of 80 bytes or more) and writes every
property itself, so this empty envelope is all we supply."""

# exiv2 keeps its error log in a process-wide buffer and its XMP toolkit is not thread-safe: one call at a time
_lock = threading.Lock()
_ready = False


@contextmanager
def _exiv2() -> Iterator[None]:
    global _ready
    with _lock:
        if not _ready:
            pyexiv2.set_log_level(3)  # warnings go to C++ stdout, which would corrupt `--json` output
            pyexiv2.registerNs(NAMESPACE, "imageworks")
            _ready = True
        yield


@dataclass(frozen=True)
class Snapshot:
    fields: dict[str, Value]
    writable: frozenset[str]
    """Groups this file can hold: some of ``xmp``, ``iptc``, ``exif``."""
    iptc_legacy: bool
    """IPTC present, not declared UTF-8, and not valid UTF-8 (Latin-1 from an older tool)."""
    lang_alt: dict[str, dict[str, str]]
    """Every language of dc:title / dc:description, so writing x-default keeps the person's translations."""
    meta: MetaSnapshot = field(default_factory=MetaSnapshot)
    """Every other tag, as a digest and the notable values (``others``)."""


def _open(data: bytes, name: str) -> pyexiv2.ImageData:
    try:
        return pyexiv2.ImageData(data)
    except ValueError as exc:  # 2 GB and over
        raise MetadataError(f"{name}: {_one_line(exc)}", code="unsupported") from exc
    except RuntimeError as exc:
        raise MetadataError(f"{name}: exiv2 cannot read its metadata ({_one_line(exc)})", code="corrupt") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _decode(raw: bytes, charset_utf8: bool = True) -> tuple[str, bool]:
    """Text and whether it needed the Latin-1 fallback."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        if charset_utf8:
            return raw.decode("utf-8", errors="replace"), False
        return raw.decode("latin-1"), True


def _xp_decode(raw: bytes) -> str:
    try:
        octets = bytes(int(n) for n in raw.split())
    except ValueError:
        return ""
    return octets.decode("utf-16-le", errors="replace").split("\x00", 1)[0]


_LANG = re.compile(r'(?:^|, )lang="([^"]+)" ')


def _lang_alt(raw: str) -> dict[str, str]:
    """exiv2 prints a LangAlt as ``lang="x-default" text, lang="de" Text``."""
    marks = list(_LANG.finditer(raw))
    if not marks:
        return {"x-default": raw}
    ends = [m.start() for m in marks[1:]] + [len(raw)]
    return {m.group(1): raw[m.end() : end] for m, end in zip(marks, ends, strict=True)}


def _open_file(path: str) -> pyexiv2.Image | pyexiv2.ImageData:
    """exiv2 reading the file itself (only the parts that hold metadata, not the image data). pyexiv2 encodes names
    as UTF-8, so a name that is not valid UTF-8 goes through memory instead. Raises FileNotFoundError."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise MetadataError(f"{path}: cannot read it ({exc.strerror or exc})", code="io") from exc
        return _open(data, path)
    try:
        return pyexiv2.Image(path)
    except RuntimeError as exc:
        if not os.path.lexists(path):
            raise FileNotFoundError(2, "No such file or directory", path) from None
        raise MetadataError(f"{path}: exiv2 cannot read its metadata ({_one_line(exc)})", code="corrupt") from exc


def read(data: bytes, name: str, *, sidecar: bool = False) -> Snapshot:
    """Our fields in ``data`` (a whole file; ``sidecar``: an XMP sidecar's). Raises MetadataError."""
    with _exiv2():
        return _snapshot(_open(data, name), name, sidecar)


def read_file(path: str, *, sidecar: bool = False) -> Snapshot:
    """Like ``read``, with exiv2 reading only what it needs of the file at ``path``: a probe of a whole library
    reads headers, not every photo's image data. Raises MetadataError or FileNotFoundError."""
    with _exiv2():
        return _snapshot(_open_file(path), path, sidecar)


def pixel_size(path: str) -> tuple[int, int]:
    """(width, height) as exiv2 finds them in the file's metadata ((0, 0) when it holds none): a RAW file's size,
    which Pillow cannot read. Raises MetadataError or FileNotFoundError."""
    with _exiv2():
        img = _open_file(path)
        try:
            return img.get_pixel_width(), img.get_pixel_height()
        finally:
            _close(img)


def _close(img: pyexiv2.Image | pyexiv2.ImageData) -> None:
    """Free exiv2's copy of the image. pyexiv2's own ``close()`` also replaces each of the object's methods in Python
    (~0.3 ms, as much as reading a photo's tables): a probe of a library pays it per file, so the native call."""
    img._exiv2api_image.close_image()


def _snapshot(img: pyexiv2.Image | pyexiv2.ImageData, name: str, sidecar: bool) -> Snapshot:
    """Decode the tables of an open image (closing it); called under ``_exiv2()``."""
    try:
        modes = img.get_access_mode()
        native = img._exiv2api_image  # raw tables: see the module docstring
        xmp_rows = native.read_xmp()
        iptc_rows = native.read_iptc()
        exif_rows = native.read_exif()
    except RuntimeError as exc:
        raise MetadataError(f"{name}: exiv2 cannot read its metadata ({_one_line(exc)})", code="corrupt") from exc
    finally:
        _close(img)
    values: dict[str, Value] = {}
    lang_alt: dict[str, dict[str, str]] = {}
    for row in xmp_rows:
        name_ = _BY_KEY.get(row["tag"].decode("utf-8", "replace"))
        if name_ is None:
            continue
        value = row["value"]
        if isinstance(value, list):
            values[name_] = [_decode(v)[0] for v in value]
        elif name_ in XMP_LANG_ALT:
            langs = _lang_alt(_decode(value)[0])
            lang_alt[name_] = langs
            values[name_] = langs.get("x-default") or next(iter(langs.values()), "")
        else:
            values[name_] = _decode(value)[0]
    charset = next((r["value"] for r in iptc_rows if r["tag"] == b"Iptc.Envelope.CharacterSet"), b"")
    utf8 = charset == ISO2022_UTF8
    legacy = False
    for row in iptc_rows:
        text, fallback = _decode(row["value"], charset_utf8=utf8)
        legacy = legacy or fallback
        name_ = _BY_KEY.get(row["tag"].decode("utf-8", "replace"))
        if name_ == F.IPTC_CHARSET:
            values[name_] = F.UTF8_CHARSET if utf8 else repr(row["value"])[2:-1]
        elif name_ == F.IPTC_KEYWORDS:
            values.setdefault(name_, []).append(text)  # type: ignore[union-attr]
        elif name_ is not None:
            values[name_] = text
    for row in exif_rows:
        name_ = _BY_KEY.get(row["tag"].decode("utf-8", "replace"))
        if name_ is None:
            continue
        if name_ in XP_FIELDS:
            text = _xp_decode(row["value"])
            values[name_] = F.split_xp_keywords(text) if name_ == F.XP_KEYWORDS else text
        else:
            values[name_] = _decode(row["value"], charset_utf8=False)[0].split("\x00", 1)[0]
    tags = [(row["tag"].decode("utf-8", "replace"), _text(row["value"])) for row in (*xmp_rows, *iptc_rows, *exif_rows)]
    if sidecar:
        # a sidecar is XMP only: the IPTC and EXIF exiv2 shows for one are its own echo of the XMP
        tags = [(key, value) for key, value in tags if key.startswith("Xmp.")]
        values = {k: v for k, v in values.items() if F.group_of(k) == "xmp"}
        writable = frozenset({"xmp"})
    else:
        writable = frozenset(
            g for g, mode in modes.items() if mode and "write" in mode and g in ("xmp", "iptc", "exif")
        )
    return Snapshot(values, writable, legacy, lang_alt, others.snapshot(tags, OUR_KEYS))


OUR_KEYS = frozenset(_BY_KEY)
"""The exiv2 keys of the fields ImageWorks reads and writes itself (text, keywords, provenance)."""


def _text(value: object) -> str:
    """A raw table value as text, for a snapshot of the tags (never shown whole)."""
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _xmp_text(value: str, name: str) -> str:
    if value.startswith("type="):  # exiv2 would read it as an array declaration
        raise MetadataError(f"{name}: a value cannot start with 'type=' ({value[:40]!r})", code="bad_value")
    return value


def write(data: bytes, changes: list[FieldChange], snapshot: Snapshot, name: str, *, sidecar: bool = False) -> bytes:
    """``data`` with ``changes`` applied by exiv2; everything else in the file is exiv2's faithful copy."""
    xmp: dict[str, object] = {}
    iptc: dict[str, object] = {}
    exif: dict[str, object] = {}
    for change in changes:
        new = change.new
        if change.field in XMP_KEYS:
            key = XMP_KEYS[change.field]
            if new is None:
                xmp[key] = None
            elif change.field in XMP_LANG_ALT:
                langs = dict(snapshot.lang_alt.get(change.field, {}))
                langs["x-default"] = str(new)
                xmp[key] = {f'lang="{lang}"': text for lang, text in langs.items()}
            elif change.field in XMP_BAGS:
                xmp[key] = "type=Bag"
                for i, item in enumerate(new, start=1):
                    xmp[f"{key}[{i}]"] = _xmp_text(item, name)
            elif isinstance(new, list):
                xmp[key] = [_xmp_text(item, name) for item in new]
            else:
                xmp[key] = _xmp_text(new, name)
        elif change.field == F.IPTC_CHARSET:
            iptc[IPTC_KEYS[change.field]] = ISO2022_UTF8.decode() if new == F.UTF8_CHARSET else new
        elif change.field in IPTC_KEYS:
            iptc[IPTC_KEYS[change.field]] = new
        elif change.field in EXIF_KEYS:
            if change.field == F.XP_KEYWORDS and isinstance(new, list):
                new = ";".join(new)
            exif[EXIF_KEYS[change.field]] = new
        else:
            raise MetadataError(f"{name}: unknown field {change.field}", code="bad_value")
    with _exiv2():
        img = _open(data, name)
        try:
            if sidecar:
                # exiv2 echoes a sidecar's XMP as IPTC/EXIF and folds that back in on writing, where the echoed
                # keywords collide with our dc:subject ("Indexing applied to non-array"): drop the echo first
                img.clear_iptc()
                img.clear_exif()
            if xmp:
                img.modify_xmp(xmp)
            if iptc:
                img.modify_iptc(iptc)
            if exif:
                img.modify_exif(exif)
            return img.get_bytes()
        except (RuntimeError, ValueError) as exc:
            raise MetadataError(f"{name}: exiv2 could not write the metadata ({_one_line(exc)})", code="write") from exc
        finally:
            img.close()
