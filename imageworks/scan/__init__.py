"""Library scan + SQLite cache: discover image files under a root, keep the listing, filter it in milliseconds.

    from imageworks.scan import ScanCache, ScanFilter

    with ScanCache() as cache:                              # $XDG_CACHE_HOME/imageworks/scan.sqlite3
        result = cache.scan("~/Pictures")                   # cached while younger than config.scan.ttl_seconds
        big = cache.query("~/Pictures", ScanFilter(min_size=1_000_000, extensions=("jpg",)))
        probe = cache.ensure_metadata_flags("~/Pictures", big)   # lazy, cached by (path, size, mtime)
        untagged = [e for e in probe.entries if e.has_metadata is False]

Errors a person can act on are ``ScanError`` (an ``ImageWorksError``); per-file problems are counted and reported
as one-line messages in the results, never raised.
"""

from imageworks.scan.cache import ScanCache
from imageworks.scan.filters import ScanFilter, format_duration, format_size, parse_extensions, parse_size
from imageworks.scan.probe import ProbeError, has_metadata, image_dimensions
from imageworks.scan.records import (
    RAW_EXTENSIONS,
    FileEntry,
    ProbeResult,
    ScanError,
    ScanProgress,
    ScanResult,
    display_path,
    image_kinds,
    marked_path,
    mtime_ns_of,
)
from imageworks.scan.rows import root_key

__all__ = [
    "RAW_EXTENSIONS",
    "FileEntry",
    "ProbeError",
    "ProbeResult",
    "ScanCache",
    "ScanError",
    "ScanFilter",
    "ScanProgress",
    "ScanResult",
    "display_path",
    "format_duration",
    "format_size",
    "has_metadata",
    "image_dimensions",
    "image_kinds",
    "marked_path",
    "mtime_ns_of",
    "parse_extensions",
    "parse_size",
    "root_key",
]
