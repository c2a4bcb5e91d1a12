"""The lazy probes of ``ScanCache``: "does this file already carry keywords or a caption?" and pixel dimensions,
read on demand and cached per file until its size or mtime (or a RAW file's sidecar) changes.

The probes themselves are plain functions of a path: ``has_metadata`` asks the metadata package's reader (the one
that reads legacy Latin-1 IPTC too), ``image_dimensions`` reads the file header. Each raises ``ProbeError`` with a
one-line reason for a file it can't read; any ``Callable[[str], bool]`` can replace ``has_metadata``. The metadata
package (and pyexiv2 with it) is imported where a file is read, so importing the scan package stays light.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from imageworks.scan.records import KIND_OF_ID, FileEntry, ProbeResult, ScanError, display_path
from imageworks.scan.rows import ENTRY_COLUMNS, db_text, entry_from_row, from_db, one_line, root_key
from imageworks.scan.store import rollback

log = logging.getLogger("imageworks.scan")
T = TypeVar("T")

_PROBE_BATCH = 256
_FEW = 2000  # up to this many entries are looked up one by one; more load the whole root


class ProbeError(ScanError):
    """A file could not be probed; ``str(err)`` is the one-line reason (kept with the file, never raised further)."""


def sidecar_signature(path: str) -> str:
    """What a RAW file's cached probe also depends on: its sidecars' names, sizes and mtimes ('' for none)."""
    from imageworks.metadata.formats import raw_sidecars

    parts = []
    for sidecar in raw_sidecars(path):
        try:
            st = os.stat(sidecar)
        except OSError:
            continue
        parts.append(f"{os.path.basename(sidecar)}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


def check_image_file(path: str) -> None:
    """Raise ProbeError for an empty file or (for non-RAW files) one whose first bytes are no image format we know."""
    from imageworks.metadata.formats import SNIFF_BYTES, is_raw, sniff

    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ProbeError(f"cannot open ({exc.strerror or exc})") from None
    if not head:
        raise ProbeError("empty file (0 bytes)")
    if is_raw(path):
        return  # too many RAW containers to sniff; exiv2 says if it can't read one
    if sniff(head) is None:
        preview = head[:8].decode("ascii", "replace")
        kind = "text" if head[:8].decode("utf-8", "replace").isprintable() else "unknown data"
        raise ProbeError(f"not an image: {kind} ({preview!r}...)")


def has_metadata(path: str) -> bool:
    """The default "already tagged?" probe: the metadata package's ``has_tags`` (keywords, a title or a description
    in a RAW file's sidecar or in the file). Raises FileNotFoundError or ProbeError."""
    from imageworks.metadata import MetadataError, has_tags

    check_image_file(path)
    try:
        return has_tags(path)
    except MetadataError as exc:
        raise _unreadable(exc, path) from None


def _unreadable(exc: Exception, path: str) -> ProbeError:
    """The metadata reader's one line, less the path (the probe's report names the file already)."""
    return ProbeError(one_line(exc).removeprefix(f"{path}: "))


def image_dimensions(path: str) -> tuple[int, int]:
    """(width, height) from the file header (Pillow; exiv2 for RAW files). Raises FileNotFoundError or ProbeError."""
    from imageworks.metadata import MetadataError
    from imageworks.metadata.exiv import pixel_size
    from imageworks.metadata.formats import is_raw

    check_image_file(path)
    if is_raw(path):
        try:
            size = pixel_size(path)
        except MetadataError as exc:
            raise _unreadable(exc, path) from None
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


class LazyProbes:
    """Mixed into ``ScanCache``, whose connection, lock and error handling it uses."""

    metadata_probe: Callable[[str], bool]
    dimensions_probe: Callable[[str], tuple[int, int]]
    files_probed: int
    _db: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _root_id: Callable[[sqlite3.Connection, str], int]

    if TYPE_CHECKING:  # ScanCache's own

        def _retrying(self, action: Callable[[], T], key: str, *, retry: bool) -> T: ...

    def ensure_metadata_flags(
        self,
        root: str | os.PathLike[str],
        entries: Iterable[FileEntry | str] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ProbeResult:
        """Make sure ``has_metadata`` is known for ``entries`` (FileEntry or relative paths; None = all under root):
        files whose size and mtime (and, for RAW, sidecars) are unchanged since their last probe are not read again.
        ``progress(done, to_probe)`` follows the files actually read. Unreadable files get ``problem`` and count in
        ``errors``; a file that vanished since the scan is reported and left unprobed."""
        return self._ensure(root, entries, "metadata", progress)

    def ensure_dimensions(
        self,
        root: str | os.PathLike[str],
        entries: Iterable[FileEntry | str] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> ProbeResult:
        """Like ``ensure_metadata_flags``, for ``width``/``height`` (read from the file header)."""
        return self._ensure(root, entries, "dimensions", progress)

    def _rows(self, con: sqlite3.Connection, root_id: int, rels: list[str] | None) -> dict[str, tuple[Any, ...]]:
        sql = f"SELECT {ENTRY_COLUMNS}, probe_sig FROM files WHERE root_id = ?"
        if rels is None or len(rels) > _FEW:
            return {from_db(r[0]): r for r in con.execute(sql + " ORDER BY relpath", (root_id,))}
        found = {}
        for rel in rels:
            r = con.execute(sql + " AND relpath = ?", (root_id, db_text(rel))).fetchone()
            if r is not None:
                found[rel] = r
        return found

    def _ensure(
        self,
        root: str | os.PathLike[str],
        entries: Iterable[FileEntry | str] | None,
        which: str,
        progress: Callable[[int, int], None] | None,
    ) -> ProbeResult:
        key = root_key(root)
        base = key if key.endswith(os.sep) else key + os.sep
        asked = None if entries is None else [e.relpath if isinstance(e, FileEntry) else str(e) for e in entries]

        def load() -> tuple[int, dict[str, tuple[Any, ...]]]:
            with self._db() as con:
                root_id = self._root_id(con, key)
                return root_id, self._rows(con, root_id, asked)

        root_id, rows = self._retrying(load, key, retry=False)
        order = list(rows) if asked is None else asked
        errors: list[str] = []
        todo: list[tuple[str, tuple[Any, ...], str]] = []
        cached = 0
        for rel in order:
            row = rows.get(rel)
            if row is None:
                errors.append(f"{display_path(rel)}: not in the cached listing of {display_path(key)} (scan again)")
                continue
            if which == "metadata":
                sig = sidecar_signature(base + rel) if KIND_OF_ID[row[3]] == "raw" else ""
                if row[8] is not None and (row[10] or "") == sig:
                    cached += 1
                    continue
            else:
                sig = ""
                if row[6] is not None:
                    cached += 1
                    continue
            todo.append((rel, row, sig))

        pending: list[tuple[object, ...]] = []
        probed = 0
        for done, (rel, row, sig) in enumerate(todo, 1):
            problem = None
            try:
                if which == "metadata":
                    values: tuple[object, ...] = (1 if self.metadata_probe(base + rel) else 0, sig)
                else:
                    values = tuple(self.dimensions_probe(base + rel))
            except FileNotFoundError:
                errors.append(f"{display_path(rel)}: vanished since the scan (scan again to drop it)")
                values = ()
            except ProbeError as exc:
                problem = one_line(exc)
            except Exception as exc:  # an injected probe may raise anything: one line here, the traceback in the log
                log.debug("probe failed for %s", display_path(rel), exc_info=True)
                problem = f"{one_line(exc)}" if isinstance(exc, OSError) else f"{type(exc).__name__}: {one_line(exc)}"
            if problem is not None:
                errors.append(f"{display_path(rel)}: {problem}")
                values = (-1, sig) if which == "metadata" else (-1, -1)
            if values:
                probed += 1
                pending.append((*values, problem, root_id, db_text(rel), row[1], row[2]))
            if len(pending) >= _PROBE_BATCH:
                self._store_probes(which, pending, key)
                pending = []
            if progress is not None:
                progress(done, len(todo))
        if pending:
            self._store_probes(which, pending, key)
        self.files_probed += probed

        def reload() -> dict[str, tuple[Any, ...]]:
            with self._db() as con:
                return self._rows(con, root_id, asked)

        fresh = self._retrying(reload, key, retry=False)
        out = [entry_from_row(base, fresh[rel]) for rel in order if rel in fresh]
        return ProbeResult(entries=out, probed=probed, cached=cached, errors=tuple(errors))

    def _store_probes(self, which: str, pending: list[tuple[object, ...]], key: str) -> None:
        # only if the row still describes the file that was probed (a refresh may have run meanwhile)
        if which == "metadata":
            sql = "UPDATE files SET has_meta = ?, probe_sig = ?, problem = coalesce(?, problem) "
        else:
            sql = "UPDATE files SET width = ?, height = ?, problem = coalesce(?, problem) "
        sql += "WHERE root_id = ? AND relpath = ? AND size = ? AND mtime_ns = ?"

        def attempt() -> None:
            with self._db() as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.executemany(sql, pending)
                    con.execute("COMMIT")
                except BaseException:
                    rollback(con)
                    raise

        self._retrying(attempt, key, retry=False)
