"""Moving photos (the rejects of a similarity review) into a folder with every sidecar they have, never replacing a
file, and putting them back: the ``move`` job kind the daemon runs in its CPU pool, and the mover it uses.

A name already taken at the destination gets ``-2`` (``-3``…), for the photo and its sidecars alike (one stem for
the pair). Taking a name is atomic (a hard link, which fails when the name exists, then the old name removed; across
file systems a copy into a file created exclusively), so two photos called ``IMG_0001.JPG`` from different folders,
moved at once by two pool workers, never land on one name.

Items: ``{"path": str}``. Params: ``{"folder": str}``. Each record is a ``MoveRecord`` (with the size and mtime of
each file as the move left it); the daemon moves the photo's keep/reject mark with it (``store``) and its review
draft (the review desk, on the record: its path changes, its history stays).

Undo: params ``{"undo": job_id}``, items ``UndoItem`` (the daemon makes them from that job's records:
``daemon/move_undo.py``). Its records are ``MoveRecord``s too, from the moved place back to the old one, so marks and
drafts go back the same way; a photo changed since, or whose old name is taken, stays (its record says why).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from imageworks.jobs.base import BadJobParams, convert_params
from imageworks.jobs.cpu import CpuKind, ItemProgress, path_items, unknown_params
from imageworks.jobs.records import JobRecord, MovedFile, MoveRecord
from imageworks.metadata.formats import is_raw
from imageworks.similarity.marks import MarkStore

CROSS_DEVICE = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EOPNOTSUPP}
"""Why a hard link may be refused where a copy works (another file system, one without hard links)."""


def _candidates(name: str) -> Any:
    stem, suffix = os.path.splitext(name)
    yield name
    n = 2
    while True:
        yield f"{stem}-{n}{suffix}"
        n += 1


def take_name(source: Path, target: Path) -> bool:
    """Move ``source`` to ``target`` unless ``target`` exists (False then, nothing changed). Raises OSError."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in CROSS_DEVICE:
            raise
        return _copy_exclusive(source, target)
    os.unlink(source)
    return True


def _copy_exclusive(source: Path, target: Path) -> bool:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        shutil.copystat(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    os.unlink(source)
    return True


def sidecars_of(photo: Path) -> list[tuple[Path, str]]:
    """Every sidecar ``photo`` has, each with the part of the photo's name it starts with: ``photo.jpg.xmp`` (the
    name; darktable's ``IMG_1.NEF.xmp`` too) and ``photo.xmp`` (the stem; Lightroom's for a RAW), either with an
    upper-case ``.XMP``. A JPEG's ``photo.xmp`` stays when a twin (``photo.CR2``) stays beside it: it is the twin's."""
    forms = [photo.name]
    if is_raw(photo) or not _has_twin(photo):
        forms.append(photo.stem)
    found: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()
    for base in forms:
        for suffix in (".xmp", ".XMP"):
            candidate = photo.with_name(base + suffix)
            try:
                st = candidate.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:  # one file on a case-blind disk
                seen.add((st.st_dev, st.st_ino))
                found.append((candidate, base))
    return found


def _has_twin(photo: Path) -> bool:
    """Another photo of the same stem beside ``photo`` (``IMG_1.JPG`` and ``IMG_1.CR2``), its own sidecars aside."""
    prefix = photo.stem + "."
    try:
        with os.scandir(photo.parent) as entries:
            return any(
                e.name.startswith(prefix) and e.name != photo.name and not e.name.lower().endswith(".xmp")
                for e in entries
            )
    except OSError:
        return True  # unsure: leave the stem-named sidecar where it is


def move_photo(photo: str, folder: Path) -> MoveRecord:
    """Move one photo and every sidecar it has into ``folder``, under one new stem (``-2`` for the photo and its
    sidecars alike when a name of the pair is taken); the record says where they went, or why nothing moved."""
    source = Path(photo)
    if not source.is_file():
        return MoveRecord(path=photo, error=f"cannot move {photo}: no such file")
    sidecars = sidecars_of(source)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _candidates(source.name):
            names = [(sidecar, folder / _sidecar_name(sidecar, base, source, name)) for sidecar, base in sidecars]
            if any(os.path.lexists(dst) for _, dst in names):
                continue  # the pair keeps one stem: never the photo as -2 beside a sidecar left as it was
            target = folder / name
            if not take_name(source, target):
                continue
            moved, problems, clash = _take_sidecars(names)
            if clash is None:
                break
            _put_back_taken(target, source, moved)  # another mover took a sidecar's name meanwhile: next stem
    except OSError as exc:
        return MoveRecord(path=photo, error=f"cannot move {photo}: {exc.strerror or exc}")
    st = target.stat()
    return MoveRecord(
        status="ok",
        path=photo,
        to=str(target),
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        sidecars=moved,
        problems=problems,
    )


def _sidecar_name(sidecar: Path, base: str, source: Path, new_name: str) -> str:
    """``photo.jpg.xmp`` -> ``photo-2.jpg.xmp``, ``photo.XMP`` -> ``photo-2.XMP``: the form and suffix kept."""
    new_base = new_name if base == source.name else os.path.splitext(new_name)[0]
    return new_base + sidecar.name[len(base) :]


def _take_sidecars(names: list[tuple[Path, Path]]) -> tuple[list[MovedFile], list[str], Path | None]:
    """Move each sidecar to its new name: what moved, what could not (one line each), and a name taken meanwhile."""
    moved: list[MovedFile] = []
    problems: list[str] = []
    for sidecar, dst in names:
        try:
            if not take_name(sidecar, dst):
                return moved, problems, dst
        except OSError as exc:
            problems.append(f"{sidecar}: sidecar left behind: {exc.strerror or exc}")
            continue
        st = dst.stat()
        moved.append(MovedFile(src=str(sidecar), dst=str(dst), size=st.st_size, mtime_ns=st.st_mtime_ns))
    return moved, problems, None


def _put_back_taken(target: Path, source: Path, moved: list[MovedFile]) -> None:
    for file in moved:
        take_name(Path(file.dst), Path(file.src))
    take_name(target, source)


# ---- undo: a move job back, from the records of the one it undoes -----------------------------------------------


class UndoItem(msgspec.Struct, frozen=True, kw_only=True):
    """One photo to put back (an item of a ``move`` job undoing one), made by the daemon from the undone job's
    ``MoveRecord``: where the photo is now, where it was, and its files as the move left them."""

    path: str
    """Where the move put it."""
    back: str
    """Where it was (where it goes back)."""
    size: int = 0
    mtime_ns: int = 0
    sidecars: list[MovedFile] = []


def undo_item(record: MoveRecord) -> dict[str, Any]:
    """The item that puts back the photo ``record`` moved."""
    item = UndoItem(
        path=record.to, back=record.path, size=record.size, mtime_ns=record.mtime_ns, sidecars=record.sidecars
    )
    return msgspec.to_builtins(item)


def _changed(path: str, size: int, mtime_ns: int) -> str:
    """Why ``path`` is not as the move left it ("" when it is)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{path} is gone"
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
        return f"{path} changed since the move"
    return ""


def put_back(item: UndoItem) -> MoveRecord:
    """Undo one photo's move: it and its sidecars go back to their old names, unless one of them changed since the
    move or an old name is taken now (never overwritten): then nothing of the pair moves, and the record says why."""
    if not item.mtime_ns:
        why = "moved by an older ImageWorks, which kept no size and mtime: whether it changed since is unknown"
        return MoveRecord(path=item.path, to=item.back, error=f"cannot undo the move of {item.back}: {why}")
    files = [MovedFile(src=item.back, dst=item.path, size=item.size, mtime_ns=item.mtime_ns), *item.sidecars]
    why = next((reason for f in files if (reason := _changed(f.dst, f.size, f.mtime_ns))), "")
    why = why or next((f"{f.src} exists (not overwritten)" for f in files if os.path.lexists(f.src)), "")
    if why:
        return MoveRecord(path=item.path, to=item.back, error=f"cannot undo the move of {item.back}: {why}")
    back: list[MovedFile] = []
    problems: list[str] = []
    try:
        if not take_name(Path(item.path), Path(item.back)):
            return MoveRecord(path=item.path, to=item.back, error=f"cannot undo: {item.back} exists (not overwritten)")
    except OSError as exc:
        return MoveRecord(
            path=item.path, to=item.back, error=f"cannot undo the move of {item.back}: {exc.strerror or exc}"
        )
    for f in item.sidecars:
        try:
            if take_name(Path(f.dst), Path(f.src)):
                back.append(MovedFile(src=f.dst, dst=f.src, size=f.size, mtime_ns=f.mtime_ns))
                continue
            problems.append(f"{f.dst}: sidecar left behind: {f.src} exists (not overwritten)")
        except OSError as exc:
            problems.append(f"{f.dst}: sidecar left behind: {exc.strerror or exc}")
    return MoveRecord(
        status="ok",
        path=item.path,
        to=item.back,
        size=item.size,
        mtime_ns=item.mtime_ns,
        sidecars=back,
        problems=problems,
    )


class MovePlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    folder: str = ""
    """Where the photos go (a move)."""
    undo: str = ""
    """The move job this one undoes (its items, ``UndoItem``, made by the daemon from that job's records)."""


class MoveKind(CpuKind):
    name = "move"
    record_type = MoveRecord

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        path_items(items, self.name)
        unknown_params(params, {"folder", "undo"}, self.name)
        plan = self.prepare(params)
        if plan.undo:
            for i, item in enumerate(items):
                try:
                    msgspec.convert(item, UndoItem)
                except msgspec.ValidationError as exc:
                    raise BadJobParams(f"move job undoing {plan.undo}: item {i}: {exc}") from None
            return {"undo": plan.undo}
        if not plan.folder or not os.path.isabs(plan.folder):
            raise BadJobParams("move job: params.folder must be an absolute path")
        return {"folder": plan.folder}

    def prepare(self, params: dict[str, Any]) -> MovePlan:
        return convert_params(params, MovePlan, "move job")

    def run_item(self, item: dict[str, Any], plan: MovePlan, progress: ItemProgress) -> MoveRecord:
        if plan.undo:
            return put_back(msgspec.convert(item, UndoItem))
        return move_photo(item["path"], Path(plan.folder))

    def store(self, done: list[tuple[dict[str, Any], JobRecord]], plan: Any) -> None:
        """The moved photos' keep/reject marks follow them, both ways (the daemon keeps the marks)."""
        moves = [(r.path, r.to) for _, r in done if isinstance(r, MoveRecord) and r.status == "ok"]
        if moves:
            with MarkStore() as marks:
                marks.moved(moves)


class MoveReport(msgspec.Struct, frozen=True, kw_only=True):
    moved: list[tuple[str, str]]
    """(from, to) per photo moved."""
    failed: list[tuple[str, str]]
    """(photo, why) per photo left where it was."""


def move_to_folder(photos: Sequence[str], folder: str | Path) -> MoveReport:
    """Move each photo (and every ``.xmp`` sidecar it has) into ``folder``, one after the other, creating it; a
    name already there gets a ``-2`` suffix (``moves.move_photo``, which the daemon's ``move`` jobs run). A photo that
    cannot be moved stays where it is and is reported."""
    moved: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for photo in photos:
        record = move_photo(photo, Path(folder))
        if record.status != "ok":
            failed.append((photo, record.error or "not moved"))
            continue
        moved.append((photo, record.to))
        failed.extend((problem.split(": ", 1)[0], problem.split(": ", 1)[1]) for problem in record.problems)
    return MoveReport(moved=moved, failed=failed)
