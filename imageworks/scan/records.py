"""What a scan produces and what the cache hands out: file kinds, entries, results, progress, errors."""

from __future__ import annotations

import importlib.util
import os

import msgspec

from imageworks.errors import ImageWorksError


class ScanError(ImageWorksError):
    """A root cannot be scanned (missing, not a directory, unreadable) or has no cached listing yet."""


# Extension (lowercase, no dot) -> kind. RAW files are listed but never edited: their text goes to a .xmp sidecar.
PLAIN_KINDS = {
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "png": "png",
    "tif": "tiff",
    "tiff": "tiff",
    "webp": "webp",
}
_RAW = "3fr arw cr2 cr3 crw dcr dng erf iiq k25 kdc mef mos mrw nef nrw orf pef raf raw rw2 rwl sr2 srf srw x3f".split()
RAW_EXTENSIONS = frozenset(_RAW)
HEIC_EXTENSIONS = frozenset({"heic", "heif"})

EXTENSIONS: tuple[str, ...] = (*PLAIN_KINDS, "heic", "heif", *_RAW)
"""The cache stores an extension as its index here (``ext_id``): one small integer per row instead of two strings
(ext, kind), ~5% off a cold scan, whose bottleneck is binding values under the GIL. Reordering it needs a new
migration in ``store.MIGRATIONS``."""
KIND_OF_ID: tuple[str, ...] = tuple(
    PLAIN_KINDS.get(ext) or ("heic" if ext in HEIC_EXTENSIONS else "raw") for ext in EXTENSIONS
)


def heic_supported() -> bool:
    """HEIC/HEIF files are listed only when pillow-heif is installed (nothing else here can read them)."""
    return importlib.util.find_spec("pillow_heif") is not None


def image_kinds() -> dict[str, str]:
    """Extension -> kind for every extension a scan records."""
    kinds = dict(PLAIN_KINDS)
    kinds.update(dict.fromkeys(RAW_EXTENSIONS, "raw"))
    if heic_supported():
        kinds.update(dict.fromkeys(HEIC_EXTENSIONS, "heic"))
    return kinds


def image_ext_ids() -> dict[str, int]:
    """Extension -> ``ext_id`` for every extension a scan records (the walkers' classification: one dict lookup)."""
    return {ext: EXTENSIONS.index(ext) for ext in image_kinds()}


def is_plain_utf8(text: str) -> bool:
    """True when ``text`` holds no surrogate escapes (every byte of the name decoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_path(path: str) -> str:
    """A path that any terminal or JSON encoder accepts: undecodable bytes shown as ``\\xff`` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def marked_path(path: str) -> str:
    """A path for a column of fixed width: each undecodable byte shown as one replacement mark (U+FFFD), so the
    row keeps its alignment (a lone surrogate reaches the terminal as a six-cell ``\\udce9``)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def mtime_ns_of(st: os.stat_result) -> int:
    """The modification time as the cache stores it: nanoseconds at double precision (~0.25 µs).

    The Rust walker reports mtime as float seconds, so both walkers round the same double the same way; compare a
    fresh ``os.stat`` with this, not with ``st_mtime_ns``."""
    return round(st.st_mtime * 1e9)


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One image file in a cached listing. ``path`` is absolute and may hold surrogate escapes (non-UTF-8 names):
    pass it to ``open``/``os`` functions as is; use ``display_path`` to show it."""

    path: str
    relpath: str
    size: int
    mtime_ns: int
    """Modification time at double precision (~0.25 µs), the same from both walkers: to ask "changed since the
    scan?", compare with ``mtime_ns_of(os.stat(path))``, never with ``st_mtime_ns`` (it differs in the last bits)."""
    ext: str
    """Lowercase, no dot: ``jpg``, ``nef``."""
    kind: str
    """``jpeg``, ``png``, ``tiff``, ``webp``, ``heic`` or ``raw``."""
    inode: int
    device: int
    width: int | None = None
    """Pixel width once ``ensure_dimensions`` has read it; None if not read yet or unreadable (see ``problem``)."""
    height: int | None = None
    has_metadata: bool | None = None
    """Keywords, title or description present (in the file, or in a RAW file's sidecar); None = not probed yet,
    or the probe failed (see ``problem``)."""
    problem: str | None = None
    """The last probe's one-line error for this file (not an image, empty, vanished), else None."""

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    @property
    def is_raw(self) -> bool:
        return self.kind == "raw"


class ScanProgress(msgspec.Struct, frozen=True, kw_only=True):
    """Reported while walking; ``files``/``bytes`` count image files found so far."""

    files: int
    bytes: int
    dirs: int


class ScanResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``ScanCache.scan``. ``errors`` holds one-line messages (first 100; ``error_count`` has all)."""

    root: str
    files: int
    bytes: int
    from_cache: bool
    seconds: float
    """Time this call took (a cache hit answers in milliseconds)."""
    scanned_at: float
    """Epoch seconds (cache clock) of the walk that produced the listing."""
    age_seconds: float
    walk_seconds: float
    """Time the walk that produced the listing took."""
    added: int = 0
    removed: int = 0
    changed: int = 0
    """Against the previous listing of this root (all zero on a cold scan or a cache hit)."""
    skipped_dirs: int = 0
    symlinks_skipped: int = 0
    """Symlinks not followed (``follow_symlinks`` off), or followed ones that led to a directory already walked."""
    empty_files: int = 0
    error_count: int = 0
    errors: tuple[str, ...] = ()
    follow_symlinks: bool = False

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe dict with always the same keys (the CLI's ``--json`` output)."""
        data = msgspec.to_builtins(self)
        data["root"] = display_path(self.root)
        data["errors"] = [display_path(e) for e in self.errors]
        return data


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``ensure_metadata_flags`` / ``ensure_dimensions``: entries in the order asked, freshly read."""

    entries: list[FileEntry]
    probed: int
    """Files read by this call."""
    cached: int
    """Files answered from the cache (same size and mtime as when last probed)."""
    errors: tuple[str, ...] = ()
    """One line per file that could not be read by this call."""
