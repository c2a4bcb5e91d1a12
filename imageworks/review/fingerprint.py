"""The fingerprint of an image file: size, mtime and a fast hash of its first and last MiB.

Reading 2 MiB at most keeps this fast on a library of large RAW files, and it still catches what size and mtime
miss: a tool that rewrites a file's metadata in place and keeps its mtime (ours does, by default).
"""

from __future__ import annotations

import hashlib
import os

from imageworks.review.model import FileFingerprint
from imageworks.scan.records import mtime_ns_of

HASHED_BYTES = 1 << 20
"""How much of each end of the file goes into the hash (1 MiB)."""


def head_tail_hash(path: str | os.PathLike[str], size: int | None = None) -> str:
    """blake2b (128 bits, hex) of the file's size, its first MiB and its last MiB (the whole file when smaller)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        total = os.fstat(fh.fileno()).st_size if size is None else size
        digest.update(total.to_bytes(8, "little"))
        digest.update(fh.read(HASHED_BYTES))
        if total > HASHED_BYTES:
            fh.seek(max(HASHED_BYTES, total - HASHED_BYTES))
            digest.update(fh.read(HASHED_BYTES))
    return digest.hexdigest()


def file_fingerprint(path: str | os.PathLike[str]) -> FileFingerprint:
    """The file as it is now. Raises OSError when it cannot be read."""
    st = os.stat(path)
    return FileFingerprint(size=st.st_size, mtime_ns=mtime_ns_of(st), head_tail=head_tail_hash(path, st.st_size))


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
