"""What the review desk reads of files and of the scan cache: whether a write tells a draft what its file holds,
a file's fingerprint and metadata now, and the libraries' own keywords (the vocabulary's library part)."""

from __future__ import annotations

from imageworks.file_state import MetaSnapshot
from imageworks.jobs.records import MonoWriteRecord, WriteOutcome
from imageworks.review.drafts import FileFingerprint
from imageworks.review.fingerprint import file_fingerprint
from imageworks.scan.cache import ScanCache
from imageworks.scan.keywords import LibraryKeywords


def tells_draft(write: WriteOutcome) -> bool:
    """Whether a tag job's write tells the image's draft what its file holds: the file was written, or found
    holding the values already, or kept some out (named). A dry run, a failed write and mode skip leaving a tagged
    photo alone tell nothing."""
    if write.dry_run or write.error:
        return False
    return write.written or write.mode != "skip"


def mono_tells_draft(record: MonoWriteRecord) -> bool:
    """Whether a mono write tells its photo's draft what the file holds: the photo had a draft when the write
    recalled it, and the write ran (written, or found the file holding the values already)."""
    write = record.write
    return record.status == "ok" and write is not None and bool(write.version) and not write.error


def now_or_unhashed(path: str, size: int, mtime_ns: int) -> FileFingerprint:
    try:
        return file_fingerprint(path)
    except OSError:
        return FileFingerprint(size=size, mtime_ns=mtime_ns)


def meta_of(path: str, fingerprint: FileFingerprint) -> MetaSnapshot | None:
    """The file's other metadata now, while it is the file of ``fingerprint`` (None when unread or unhashed)."""
    if not fingerprint.pixels:
        return None
    from imageworks import metadata as md

    try:
        return md.read(path).meta
    except (md.MetadataError, OSError):
        return None


def library_keywords() -> LibraryKeywords:
    """Every library's keywords as the scan cache holds them now (the vocabulary's library part)."""
    with ScanCache() as cache:
        return cache.library_keywords()


def read_library_of(path: str) -> int:
    """Read (once) the keywords of the cached libraries ``path`` lies in; how many files were read."""
    with ScanCache() as cache:
        return sum(cache.ensure_keywords(root) for root in cache.roots_holding(path))
