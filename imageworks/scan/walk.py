"""Recursive discovery of image files: a walker that lists each directory in C (``_listdir.c``, where it was built)
or with ``os.scandir``, and a Rust one (scandir-rs), used on bigger machines where the C lister is missing.

scandir-rs lists and stats in parallel threads outside the GIL (about the speed of ``find -printf`` when it has
cores to itself; ``default_engine`` says when it is used), but it
1. drops entries whose names are not UTF-8 (reports ``Invalid path`` with a lossy name),
2. silently skips directories it cannot read, and
3. loops forever through symlinked directories when told to follow links.
So: it is run with ``follow_links=False``; a directory that it returned no entries for is re-listed here with
``os.scandir`` (an empty dir costs one syscall; an unreadable one is reported); the parent of each ``Invalid path``
is re-listed here and its undecodable names handled exactly (surrogateescape); symlinks are followed here, each
directory (device, inode) at most once. An entry it could not stat comes back zero-filled (inode 0): it is
stat'ed again here to get the real reason. The ``os.scandir`` walker also runs everything when scandir-rs is missing.
(In a process forked after scandir-rs was used, its thread pool is gone and it returns nothing after ~1 s; the
empty-root re-listing above then does the whole walk in Python: slower, still correct.)
"""

from __future__ import annotations

import importlib
import os
import stat
import time
import types
from collections.abc import Iterator
from typing import cast

from imageworks.scan.records import display_path, image_ext_ids, is_plain_utf8, mtime_ns_of
from imageworks.scan.roots import usable_cpus

LISTDIR: types.ModuleType | None
try:  # built at install where a C compiler is (pyproject.toml); the Python loop below gives the same results
    LISTDIR = importlib.import_module("imageworks.scan._listdir")  # (by name: an import of the package is a circle)
except ImportError:  # pragma: no cover - an install without a compiler
    LISTDIR = None

try:
    import scandir_rs

    HAVE_SCANDIR_RS = True
except ImportError:  # pragma: no cover - scandir-rs is a dependency; the Python walker covers its absence
    HAVE_SCANDIR_RS = False

MAX_MESSAGES = 100
"""Error lines kept per scan (all are counted)."""

# relpath, lowercased name, ext_id (records.EXTENSIONS), size, mtime_ns, inode, device
Record = tuple[str, str, int, int, int, int, int]


RUST_MIN_CPUS = 4

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY  # os.open adds O_CLOEXEC


def default_engine() -> str:
    """``python`` where the C lister was built (``_listdir.c``: 0.6-0.7x ``find``'s time for a walk here, with no
    Python per file; scandir-rs, which stats in parallel threads, still hands every record to a Python loop: 1.1-1.3x
    ``find``); without it, ``rust`` with at least ``RUST_MIN_CPUS`` usable CPUs, else ``python`` (bench/RESULTS.md,
    "Scan")."""
    if LISTDIR is not None or not HAVE_SCANDIR_RS:
        return "python"
    return "rust" if usable_cpus() >= RUST_MIN_CPUS else "python"


class Walker:
    """One walk of ``root``: iterate ``batches()`` for records; the counters are final once it is exhausted.

    ``engine``: ``rust`` (scandir-rs where it can, Python for the rest), ``python`` (each directory listed by the C
    lister where it was built, else as ``python-loop``), ``python-loop`` (everything in ``os.scandir``) or ``auto``
    (see ``default_engine``). The tests run each; the benchmark compares them."""

    def __init__(self, root: str, *, follow_symlinks: bool = False, engine: str = "auto") -> None:
        if engine not in ("auto", "rust", "python", "python-loop"):
            raise ValueError(f"unknown walker engine {engine!r}")
        if engine == "auto":
            engine = default_engine()
        self.root = root
        self.follow_symlinks = follow_symlinks
        self.use_rust = engine == "rust" and HAVE_SCANDIR_RS
        self.lister = LISTDIR if engine != "python-loop" else None
        self.ext_ids = image_ext_ids()
        self._ext_table = tuple((ext.encode(), i) for ext, i in self.ext_ids.items() if ext.isascii())
        self.dirs = 0
        self.skipped_dirs = 0
        self.symlinks_skipped = 0
        self.vanished = 0
        self.error_count = 0
        self.errors: list[str] = []
        self._visited: set[tuple[int, int]] = set()
        self._symlinks: list[str] = []
        self._denied: dict[str, int] = {}

    # ---- bookkeeping ----------------------------------------------------------------------------------------

    def _error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_MESSAGES:
            self.errors.append(message)

    def _skip_dir(self, rel: str, exc: OSError) -> None:
        self.skipped_dirs += 1
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        self._error(f"{display_path(rel or '.')}/: {reason} (directory skipped)")

    def _deny(self, dir_rel: str, entries: int = 1) -> None:
        self._denied[dir_rel] = self._denied.get(dir_rel, 0) + entries

    def _report_denied(self) -> None:
        for dir_rel, entries in sorted(self._denied.items()):
            self.skipped_dirs += 1
            self._error(f"{display_path(dir_rel or '.')}/: permission denied for {entries} entries (skipped)")
        self._denied.clear()

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    # ---- the walk -------------------------------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[list[Record], bool]]:
        """Yield ``(records, clean)``, never empty; ``clean`` means every relpath in the batch is plain UTF-8. The
        records of a batch are all in one directory (a directory may come in several batches)."""
        st = os.stat(self.root)
        self._visited.add((st.st_dev, st.st_ino))
        # with links followed, a file reached again through a link is listed once (hard links inside the tree,
        # which find also lists twice, are left alone)
        seen: set[tuple[int, int]] | None = set() if self.follow_symlinks else None
        for batch, clean in self._tree(""):
            if seen is not None:
                seen.update((r[6], r[5]) for r in batch)
            yield batch, clean
        while self._symlinks:
            rel = self._symlinks.pop()
            if seen is None:
                self.symlinks_skipped += 1
                continue
            for batch, clean in self._follow(rel):
                kept = [r for r in batch if (r[6], r[5]) not in seen]
                seen.update((r[6], r[5]) for r in kept)
                if kept:
                    yield kept, clean
        self._report_denied()

    def _follow(self, rel: str) -> Iterator[tuple[list[Record], bool]]:
        path = self._abs(rel)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._error(f"{display_path(rel)}: broken symlink (skipped)")
            return
        except OSError as exc:
            self._error(f"{display_path(rel)}: symlink not followed ({exc.strerror or exc})")
            return
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in self._visited:  # an ancestor or a directory already walked: a loop or a duplicate
                self.symlinks_skipped += 1
                return
            self._visited.add(key)
            yield from self._tree(rel)
        elif stat.S_ISREG(st.st_mode):
            record = self._record(rel, st)
            if record is not None:
                yield [record], is_plain_utf8(rel)

    def _record(self, rel: str, st: os.stat_result) -> Record | None:
        name = rel.rpartition("/")[2]
        _stem, dot, ext = name.rpartition(".")
        if not dot:
            return None
        ext_id = self.ext_ids.get(ext.lower())
        if ext_id is None:
            return None
        shown = name if is_plain_utf8(name) else display_path(name)
        return (rel, shown.lower(), ext_id, st.st_size, mtime_ns_of(st), st.st_ino, st.st_dev)

    def stat_records(self, rels: list[str]) -> list[Record]:
        """The records of the image files among ``rels`` (relative to the root) as they are now; a path gone, not
        a regular file or not an image gives none (problems are counted and reported as a walk's are)."""
        out = []
        for rel in rels:
            try:
                st = os.lstat(self._abs(rel))
            except FileNotFoundError:
                self.vanished += 1
                continue
            except PermissionError:
                self._deny(rel.rpartition("/")[0])
                continue
            except OSError as exc:
                self._error(f"{display_path(rel)}: {exc.strerror or exc} (skipped)")
                continue
            record = self._record(rel, st) if stat.S_ISREG(st.st_mode) else None
            if record is not None:
                out.append(record)
        return out

    def _tree(self, rel: str) -> Iterator[tuple[list[Record], bool]]:
        path = self._abs(rel)
        if self.use_rust and is_plain_utf8(path):
            yield from self._rust_tree(path, rel)
        else:
            yield from self._python_tree(rel)

    def _rust_tree(self, path: str, rel: str) -> Iterator[tuple[list[Record], bool]]:
        assert HAVE_SCANDIR_RS
        prefix = f"{rel}/" if rel else ""
        ext_ids_get = self.ext_ids.get
        visited_add = self._visited.add
        symlinks_append = self._symlinks.append
        parents: set[str] = set()
        parents_add = parents.add
        dirs: list[str] = []
        undecodable_in: set[str] = set()
        unstatable: list[str] = []
        dirs_before = self.dirs
        walk = scandir_rs.Scandir(path, return_type=scandir_rs.ReturnType.Ext, follow_links=False, skip_hidden=False)
        walk.start()
        try:
            while True:
                finished = walk.finished  # read before results() so the last batch is never missed
                found, errors = walk.results(only_new=True)
                entries = cast("list[scandir_rs.DirEntryExt]", found)  # ReturnType.Ext: every entry has its stat
                by_dir: dict[str, list[Record]] = {}  # batches hold one directory each (digests.py relies on it)
                for e in entries:
                    p = e.path
                    i = p.rfind("/")
                    parent = p[:i] if i > 0 else ""
                    parents_add(parent)
                    if e.is_file:
                        j = p.rfind(".")
                        if j <= i:
                            continue
                        ext_id = ext_ids_get(p[j + 1 :].lower())
                        if ext_id is None:
                            continue
                        ino = e.st_ino
                        if not ino:  # scandir-rs zero-fills an entry it could not stat: ask again, get the reason
                            unstatable.append(prefix + p)
                            continue
                        name_lc = p[i + 1 :].lower()
                        record = (prefix + p, name_lc, ext_id, e.st_size, round(e.mtime * 1e9), ino, e.st_dev)
                        batch = by_dir.get(parent)
                        if batch is None:
                            by_dir[parent] = [record]
                        else:
                            batch.append(record)
                    elif e.is_dir:
                        dirs.append(p)
                        if e.st_ino:
                            visited_add((e.st_dev, e.st_ino))
                    elif e.is_symlink:
                        symlinks_append(prefix + p)
                for bad_path, message in errors:
                    if message == "Invalid path":  # a non-UTF-8 name: its parent's name is intact
                        undecodable_in.add(bad_path.rpartition("/")[0])
                    else:
                        self._error(f"{display_path(prefix + bad_path)}: {message}")
                self.dirs = dirs_before + len(dirs)
                for batch in by_dir.values():
                    yield batch, True
                if not entries and not errors:
                    if finished:
                        break
                    time.sleep(0.002)
        finally:
            if not walk.finished:
                walk.stop()
        restated: dict[str, list[Record]] = {}
        for record in self.stat_records(unstatable):
            restated.setdefault(record[0].rpartition("/")[0], []).append(record)
        for batch in restated.values():
            yield batch, True
        # scandir-rs skips unreadable directories without a word: re-list every directory it found empty
        for d in ["", *dirs]:
            if d not in parents:
                yield from self._python_tree(prefix + d if d else rel, recursive=True)
        for d in undecodable_in:
            yield from self._python_tree(prefix + d if d else rel, only_undecodable=True)

    def _python_tree(
        self, rel: str, *, recursive: bool = True, only_undecodable: bool = False
    ) -> Iterator[tuple[list[Record], bool]]:
        """Walk with ``os.scandir``; ``only_undecodable`` takes just the names scandir-rs dropped from ``rel``.

        Subdirectories are walked in name order (scandir gives hash order), so that the relpaths reach the
        ``files`` b-tree almost in key order: a cold scan's insert then appends to the rightmost pages instead of
        splitting pages all over the tree (~12% less insert CPU for 80k rows, measured)."""
        stack = [(rel, only_undecodable)]
        subdirs: list[str] = []
        while stack:
            d_rel, undecodable_only = stack.pop()
            try:
                fd = os.open(self._abs(d_rel), _DIR_FLAGS)
            except FileNotFoundError:
                self.vanished += 1
                continue
            except OSError as exc:
                self._skip_dir(d_rel, exc)
                continue
            try:
                batch, clean = self._list(fd, d_rel, subdirs if recursive else None, undecodable_only)
            finally:
                os.close(fd)
            if subdirs:
                subdirs.sort(reverse=True)  # popped from the stack in ascending order
                stack.extend([(d, False) for d in subdirs])
                subdirs.clear()
            if batch:
                yield batch, clean

    def _list(
        self, fd: int, d_rel: str, subdirs: list[str] | None, undecodable_only: bool
    ) -> tuple[list[Record], bool]:
        """The records of one directory (open as ``fd``); its subdirectories are appended to ``subdirs``.

        In C where it was built (``_listdir.c``: the listing and the lstats without the GIL, so the DB writer
        thread inserts meanwhile; about the cost of ``find -printf``); a directory with a name that is not plain
        UTF-8 is listed by the Python loop, which handles surrogate escapes and says why a name is odd."""
        if self.lister is not None and not undecodable_only and is_plain_utf8(d_rel):
            listed = self.lister.list_dir(fd, f"{d_rel}/".encode() if d_rel else b"", self._ext_table)
            if listed is not None:
                records, dirs, visited, symlinks, vanished, denied, errors = listed
                self.dirs += len(dirs)
                self._visited.update(visited)
                if subdirs is not None:
                    subdirs.extend(dirs)
                self._symlinks.extend(symlinks)
                self.vanished += vanished
                for rel, err in errors:
                    self._error(f"{display_path(rel)}: {os.strerror(err)} (skipped)")
                if denied:
                    self._deny(d_rel, denied)
                return records, True
        return self._list_python(fd, d_rel, subdirs, undecodable_only)

    def _list_python(
        self, fd: int, d_rel: str, subdirs: list[str] | None, undecodable_only: bool
    ) -> tuple[list[Record], bool]:
        """``_list`` in Python: every name, surrogate escapes included."""
        ext_ids_get = self.ext_ids.get
        lstat = os.lstat
        batch: list[Record] = []
        denied = 0
        clean = is_plain_utf8(d_rel)
        pre = f"{d_rel}/" if d_rel else ""
        # scandir(fd) + lstat(name, dir_fd=fd): the kernel resolves one name per file, not the whole path (-15% here)
        with os.scandir(fd) as listing:
            for e in listing:
                name = e.name
                if undecodable_only and (name.isascii() or is_plain_utf8(name)):
                    continue
                try:
                    if e.is_file(follow_symlinks=False):  # d_type: no syscall
                        j = name.rfind(".")
                        if j < 0:
                            continue
                        ext_id = ext_ids_get(name[j + 1 :].lower())
                        if ext_id is None:  # not an image: never stat'ed
                            continue
                        st = lstat(name, dir_fd=fd)
                    elif e.is_dir(follow_symlinks=False):
                        st = lstat(name, dir_fd=fd)
                        self._visited.add((st.st_dev, st.st_ino))
                        self.dirs += 1
                        if subdirs is not None:
                            subdirs.append(pre + name)
                        continue
                    elif e.is_symlink():
                        self._symlinks.append(pre + name)
                        continue
                    else:
                        continue
                except FileNotFoundError:  # vanished between listing and stat
                    self.vanished += 1
                    continue
                except PermissionError:
                    denied += 1
                    continue
                except OSError as exc:
                    self._error(f"{display_path(pre + name)}: {exc.strerror or exc} (skipped)")
                    continue
                if name.isascii() or is_plain_utf8(name):
                    name_lc = name.lower()
                else:
                    clean = False
                    name_lc = display_path(name).lower()
                batch.append((pre + name, name_lc, ext_id, st.st_size, round(st.st_mtime * 1e9), st.st_ino, st.st_dev))
        if denied:
            self._deny(d_rel, denied)
        return batch, clean
