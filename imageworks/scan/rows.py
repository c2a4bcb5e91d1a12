"""How entries are stored and read back: paths as TEXT (or raw bytes), rows as ``FileEntry``."""

from __future__ import annotations

import os
from typing import Any

from imageworks.scan.records import EXTENSIONS, KIND_OF_ID, FileEntry, is_plain_utf8

ENTRY_COLUMNS = "relpath, size, mtime_ns, ext_id, ino, dev, width, height, has_meta, problem"


def db_text(text: str) -> str | bytes:
    """How a path goes into SQLite: TEXT, or the raw bytes when it holds surrogate escapes."""
    return text if is_plain_utf8(text) else os.fsencode(text)


def from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def root_key(root: str | os.PathLike[str]) -> str:
    """The cache key of a root: its absolute path (no check that it exists, so stale roots can be queried/cleared)."""
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text.splitlines()[0] if text else type(exc).__name__


def entry_from_row(base: str, r: tuple[Any, ...]) -> FileEntry:
    rel = from_db(r[0])
    width, height, has_meta = r[6], r[7], r[8]
    return FileEntry(
        path=base + rel,
        relpath=rel,
        size=r[1],
        mtime_ns=r[2],
        ext=EXTENSIONS[r[3]],
        kind=KIND_OF_ID[r[3]],
        inode=r[4],
        device=r[5],
        width=width if width is not None and width >= 0 else None,
        height=height if height is not None and height >= 0 else None,
        has_metadata=None if has_meta is None or has_meta < 0 else bool(has_meta),
        problem=r[9],
    )
