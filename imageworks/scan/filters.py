"""Filters over a cached listing, compiled to SQL (milliseconds at 100k rows), and the parsers the CLI and TUI share."""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from imageworks.scan.records import EXTENSIONS, HEIC_EXTENSIONS, KIND_OF_ID, PLAIN_KINDS, RAW_EXTENSIONS, ScanError

KINDS = ("jpeg", "png", "tiff", "webp", "heic", "raw")


class ScanFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Every field is optional; set fields are ANDed. Build one per keystroke: it is cheap and immutable."""

    min_size: int | None = None
    """Bytes, inclusive."""
    max_size: int | None = None
    """Bytes, inclusive."""
    extensions: tuple[str, ...] = ()
    """Any of these (``jpg``, ``.PNG``...). A non-RAW extension means its kind (``jpg`` also matches ``.jpeg``);
    a RAW extension means itself (``nef``); a kind name (``raw``, ``jpeg``, ``tiff``...) means that kind."""
    name_glob: str | None = None
    """Shell glob on the file name, case-insensitive: ``*beach*``, ``IMG_00??.*``, ``[!_]*``."""
    has_metadata: bool | None = None
    """True = already tagged, False = not tagged. Files not probed yet (``ensure_metadata_flags``) match neither."""
    modified_after: float | None = None
    """Epoch seconds, inclusive."""
    modified_before: float | None = None
    """Epoch seconds, exclusive."""

    def is_empty(self) -> bool:
        return self == ScanFilter()

    def to_sql(self) -> tuple[str, list[object]]:
        """``(" AND ...", params)`` to append to a WHERE clause over the ``files`` table."""
        clauses: list[str] = []
        params: list[object] = []
        if self.min_size is not None:
            clauses.append("size >= ?")
            params.append(self.min_size)
        if self.max_size is not None:
            clauses.append("size <= ?")
            params.append(self.max_size)
        if self.extensions:
            kinds, exts = extension_targets(self.extensions)
            ids = sorted(i for i, ext in enumerate(EXTENSIONS) if ext in exts or KIND_OF_ID[i] in kinds)
            clauses.append(f"ext_id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        if self.name_glob:
            clauses.append("name_lc GLOB ?")
            params.append(_sqlite_glob(self.name_glob.lower()))
        if self.has_metadata is not None:
            clauses.append("has_meta = ?")
            params.append(1 if self.has_metadata else 0)
        if self.modified_after is not None:
            clauses.append("mtime_ns >= ?")
            params.append(round(self.modified_after * 1e9))
        if self.modified_before is not None:
            clauses.append("mtime_ns < ?")
            params.append(round(self.modified_before * 1e9))
        return "".join(f" AND {c}" for c in clauses), params


def _sqlite_glob(pattern: str) -> str:
    # SQLite GLOB negates a class with ^, the shell (and fnmatch) with !
    return pattern.replace("[!", "[^")


def normalize_extension(token: str) -> str:
    return token.strip().lstrip(".").lower()


def extension_targets(tokens: Iterable[str]) -> tuple[set[str], set[str]]:
    """Split extension tokens into (kinds, exact RAW extensions). ScanError for a token that names no image type."""
    kinds: set[str] = set()
    exts: set[str] = set()
    for token in tokens:
        ext = normalize_extension(token)
        if not ext:
            continue
        if ext in KINDS:
            kinds.add(ext)
        elif ext in PLAIN_KINDS:
            kinds.add(PLAIN_KINDS[ext])
        elif ext in HEIC_EXTENSIONS:
            kinds.add("heic")
        elif ext in RAW_EXTENSIONS:
            exts.add(ext)
        else:
            known = ", ".join(sorted({*PLAIN_KINDS, *HEIC_EXTENSIONS, "raw"}))
            raise ScanError(f"unknown image extension {token!r} (known: {known}, or a RAW extension such as nef)")
    return kinds, exts


def parse_extensions(text: str) -> tuple[str, ...]:
    """``"jpg, .PNG,raw"`` -> ``("jpg", "png", "raw")``, validated."""
    tokens = tuple(dict.fromkeys(t for t in (normalize_extension(x) for x in text.split(",")) if t))
    extension_targets(tokens)
    return tokens


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """``"1MB"`` -> 1_000_000, ``"1MiB"`` -> 1_048_576, ``"500k"`` -> 500_000, ``"123"`` -> 123 bytes."""
    match = _SIZE.match(text)
    if not match:
        raise ScanError(f"not a size: {text!r} (examples: 500k, 1MB, 2.5MiB, 1G)")
    number, prefix, binary, _ = match.groups()
    base = 1024 if binary else 1000
    if binary and not prefix:
        raise ScanError(f"not a size: {text!r} (examples: 500k, 1MB, 2.5MiB, 1G)")
    return int(float(number) * base ** _POWERS[prefix.lower()])


def format_size(size: int) -> str:
    """Decimal units, as ``parse_size`` reads them: ``1.5 MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """Rounded for a person: ``42 s``, ``12 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
