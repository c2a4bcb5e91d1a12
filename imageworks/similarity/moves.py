"""Moving photos (the rejects of a similarity review) into a folder, with their ``.xmp`` sidecars, never replacing a
file: the ``move`` job kind the daemon runs in its CPU pool, and the mover it uses.

A name already taken at the destination gets ``-2`` (``-3``…). Taking a name is atomic (a hard link, which fails
when the name exists, then the old name removed; across file systems a copy into a file created exclusively), so two
photos called ``IMG_0001.JPG`` from different folders, moved at once by two pool workers, never land on one name.

Items: ``{"path": str}``. Params: ``{"folder": str}``. Each record is a ``MoveRecord``; the daemon moves the photo's
keep/reject mark with it (``store``) and its review draft (the review desk, on the record: its path changes, its
history stays).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from imageworks.jobs.base import BadJobParams
from imageworks.jobs.cpu import CpuKind, ItemProgress, path_items, unknown_params
from imageworks.jobs.records import JobRecord, MoveRecord
from imageworks.metadata.formats import is_raw, sidecar_path
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


def move_photo(photo: str, folder: Path) -> MoveRecord:
    """Move one photo (and its sidecar) into ``folder``; the record says where it went, or why it did not."""
    source = Path(photo)
    if not source.is_file():
        return MoveRecord(path=photo, error=f"cannot move {photo}: no such file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = next(folder / name for name in _candidates(source.name) if take_name(source, folder / name))
    except OSError as exc:
        return MoveRecord(path=photo, error=f"cannot move {photo}: {exc.strerror or exc}")
    record = MoveRecord(status="ok", path=photo, to=str(target))
    sidecar = sidecar_path(source)
    if not sidecar.exists():
        return record
    base = target.stem if is_raw(target) else target.name
    new_sidecar = target.with_name(base + sidecar.suffix)  # named after the photo's new name, its case kept
    try:
        if take_name(sidecar, new_sidecar):
            return MoveRecord(status="ok", path=photo, to=str(target), sidecar=str(new_sidecar))
        problem = f"sidecar left behind: {new_sidecar} already exists"
    except OSError as exc:
        problem = f"sidecar left behind: {exc.strerror or exc}"
    return MoveRecord(status="ok", path=photo, to=str(target), problems=[f"{sidecar}: {problem}"])


class MoveKind(CpuKind):
    name = "move"
    record_type = MoveRecord

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        path_items(items, self.name)
        unknown_params(params, {"folder"}, self.name)
        folder = params.get("folder")
        if not isinstance(folder, str) or not os.path.isabs(folder):
            raise BadJobParams("move job: params.folder must be an absolute path")
        return {"folder": folder}

    def prepare(self, params: dict[str, Any]) -> Path:
        return Path(params["folder"])

    def run_item(self, item: dict[str, Any], plan: Path, progress: ItemProgress) -> MoveRecord:
        return move_photo(item["path"], plan)

    def store(self, done: list[tuple[dict[str, Any], JobRecord]], plan: Any) -> None:
        """The moved photos' keep/reject marks follow them (the daemon keeps the marks)."""
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
    """Move each photo (and its ``.xmp`` sidecar, if it has one) into ``folder``, one after the other, creating it; a
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
