"""read → plan → apply: the three steps every writer (the tag job, the review commit, the CLI) goes through."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import msgspec

from imageworks import __version__
from imageworks.config import MetadataConfig
from imageworks.metadata import atomic, exiv, formats, merge
from imageworks.metadata import fields as F
from imageworks.metadata.backup import BackupStore
from imageworks.metadata.plan import MODES, Applied, Existing, Fingerprint, MetadataError, Mode, Plan, Proposed

PathLike = str | os.PathLike[str]


def _options(options: MetadataConfig | None) -> MetadataConfig:
    if options is not None:
        return options
    from imageworks import config

    return config.load().metadata


@dataclass(frozen=True)
class _Where:
    photo: Path
    target: Path
    format: str
    sidecar: bool


def _locate(path: PathLike, sidecar_for_all: bool) -> _Where:
    given = Path(os.fspath(path)).expanduser()
    photo = Path(os.path.realpath(given))  # write through a symlink to the file, never over the link
    try:
        st = photo.stat()
    except FileNotFoundError:
        raise MetadataError(f"{given}: no such file", code="not_found") from None
    except OSError as exc:
        raise MetadataError(f"{given}: cannot read it ({exc.strerror})", code="io") from exc
    if not os.path.isfile(photo) or (st.st_size == 0 and not formats.is_raw(photo)):
        raise MetadataError(f"{given}: not an image file", code="unsupported")
    if photo.suffix.lower() == ".xmp":
        raise MetadataError(f"{given}: is a sidecar; give the photo it belongs to", code="unsupported")
    if formats.is_raw(photo):
        return _Where(photo, formats.sidecar_path(photo), photo.suffix.lower().lstrip("."), True)
    try:
        fmt = formats.sniff_file(photo)
    except OSError as exc:
        raise MetadataError(f"{given}: cannot read it ({exc.strerror})", code="io") from exc
    if fmt is None or fmt not in formats.IN_FILE_FORMATS:
        if sidecar_for_all:
            return _Where(photo, formats.sidecar_path(photo), photo.suffix.lower().lstrip(".") or "file", True)
        raise MetadataError(
            f"{given}: not a JPEG, TIFF, PNG or WebP file; its metadata can only go to a sidecar "
            "(set metadata.sidecar_for_all)",
            code="unsupported",
        )
    target = formats.sidecar_path(photo) if sidecar_for_all else photo
    return _Where(photo, target, fmt, sidecar_for_all)


def _read_bytes(path: Path) -> tuple[bytes, os.stat_result]:
    """The whole file, and its stat, checked to be the same before and after reading (no writer in between)."""
    try:
        with path.open("rb") as fh:
            before = os.fstat(fh.fileno())
            data = fh.read()
            after = os.fstat(fh.fileno())
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read it ({exc.strerror})", code="io") from exc
    if atomic.fingerprint(before) != atomic.fingerprint(after) or len(data) != after.st_size:
        raise MetadataError(f"{path}: changed while it was being read; try again", code="changed")
    return data, after


@dataclass(frozen=True)
class _State:
    where: _Where
    data: bytes | None
    """The target's bytes; ``None`` for a sidecar that does not exist yet."""
    st: os.stat_result | None
    snapshot: exiv.Snapshot
    embedded: dict[str, F.Value]


def _load(where: _Where, *, embedded: bool = True) -> _State:
    """The target's bytes and fields; for a sidecar target also (with ``embedded``) what the photo itself holds."""
    name = str(where.target)
    if not where.sidecar:
        whole, st_whole = _read_bytes(where.target)
        formats.validate(whole, where.format, str(where.target))
        return _State(where, whole, st_whole, exiv.read(whole, name), {})
    data: bytes | None = None
    st = atomic.stat_or_none(where.target)
    if st is not None:
        data, st = _read_bytes(where.target)
    snapshot = exiv.read(data if data is not None else exiv.SIDECAR_SEED, name, sidecar=True)
    if not embedded:
        return _State(where, data, st, snapshot, {})
    try:  # what the photo itself carries counts as existing, but is never written
        photo_data, _ = _read_bytes(where.photo)
        carried = exiv.read(photo_data, str(where.photo)).fields
    except MetadataError:
        carried = {}  # a RAW exiv2 cannot parse still gets its sidecar
    return _State(where, data, st, snapshot, carried)


def read(path: PathLike, *, options: MetadataConfig | None = None) -> Existing:
    """What the photo holds now: title/caption, description, keywords (flat and hierarchical), our provenance, and
    every field's own value. For a RAW file (or any file in sidecar mode), the sidecar plus the photo's own."""
    opts = _options(options)
    state = _load(_locate(path, opts.sidecar_for_all))
    current = state.snapshot.fields
    seen = F.logical(current, state.embedded)
    return Existing(
        path=str(state.where.photo),
        target=str(state.where.target),
        format=state.where.format,
        sidecar=state.where.sidecar,
        caption=seen.caption,
        description=seen.description,
        keywords=seen.keywords,
        hierarchical=seen.hierarchical,
        provenance=seen.provenance,
        fields=dict(current),  # type: ignore[arg-type]
        embedded=dict(state.embedded),  # type: ignore[arg-type]
        meta=state.snapshot.meta,
    )


def has_tags(path: PathLike) -> bool:
    """True when the photo already has keywords, a title or a description (what ``skip`` mode leaves alone): in a
    RAW file's sidecars first (a broken one is no evidence either way), else in the file itself. exiv2 reads only
    the files' metadata, never their image data, so probing a whole library stays cheap. Raises MetadataError or
    FileNotFoundError."""
    name = os.fspath(path)
    for sidecar in formats.raw_sidecars(name):
        try:
            if F.logical(exiv.read_file(sidecar, sidecar=True).fields).tagged:
                return True
        except (MetadataError, FileNotFoundError):
            continue
    return F.logical(exiv.read_file(name).fields).tagged


def plan(path: PathLike, new: Proposed, mode: Mode, *, options: MetadataConfig | None = None) -> Plan:
    """The exact field changes ``apply`` would make, against the file as it is now. Nothing is written."""
    if mode not in MODES:
        raise MetadataError(f"unknown mode {mode!r} (choose skip, merge or overwrite)", code="bad_value")
    opts = _options(options)
    state = _load(_locate(path, opts.sidecar_for_all))
    if new.provenance is not None:
        stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        new = msgspec.structs.replace(
            new,
            provenance=msgspec.structs.replace(
                new.provenance,
                date=new.provenance.date or stamp,
                tool=new.provenance.tool or f"ImageWorks {__version__}",
            ),
        )
    result = merge.plan_changes(
        state.snapshot.fields,
        new,
        mode,
        writable=state.snapshot.writable,
        also=state.embedded,
        iptc_legacy=state.snapshot.iptc_legacy,
    )
    return Plan(
        path=str(state.where.photo),
        target=str(state.where.target),
        format=state.where.format,
        sidecar=state.where.sidecar,
        mode=mode,
        changes=result.changes,
        truncated=result.truncated,
        skipped=result.skipped,
        reason=result.reason,
        not_written=result.not_written,
        last_write=result.last_write,
        meta=state.snapshot.meta,
        fingerprint=None if state.st is None else atomic.fingerprint(state.st),
        keep_mtime=opts.mtime == "keep",
        backups=opts.backups,
    )


def backed_up_fields(backup_id: int, target: str) -> dict[str, F.Value] | None:
    """The fields ``target`` held before the write whose backup is ``backup_id`` ({} when that write created it);
    None when the backup is gone (pruned, or never taken) or cannot be read."""
    with BackupStore() as store:
        if not store.root.exists():
            return None
        found = [e for e in store.entries(path=Path(target), include_restored=True) if e.id == backup_id]
        if not found:
            return None
        if not found[0].existed:
            return {}
        try:
            data = store.blob(found[0].blob or "")
            return dict(exiv.read(data, target, sidecar=target.lower().endswith(".xmp")).fields)
        except MetadataError:
            return None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One ImageWorks writer per photo at a time. A second one waits, then finds the file changed and refuses."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise MetadataError(f"{path}: cannot open it ({exc.strerror})", code="io") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def _backups(wanted: bool) -> Iterator[BackupStore | None]:
    """The backup store for one write (None when no backup is taken), closed after it."""
    if not wanted:
        yield None
        return
    with BackupStore() as store:
        yield store


def apply(
    plan: Plan,
    *,
    backup: bool | None = None,
    job_id: str | None = None,
    before_replace: Callable[[str, int | None], None] | None = None,
) -> Applied:
    """Make the plan's changes: refused if the file changed since it was planned. A backup is taken first (unless
    ``backup`` is False, or None and the config says no); the file is replaced atomically. ``before_replace``
    learns the new bytes' SHA-256 and the backup's id just before the rename (a job journals its intent there);
    if it raises, nothing is written."""
    if not plan.changes:
        return Applied(path=plan.path, target=plan.target, job_id=job_id, fingerprint=plan.fingerprint, meta=plan.meta)
    photo, target = Path(plan.path), Path(plan.target)
    take_backup = plan.backups if backup is None else backup
    where = _Where(photo, target, plan.format, plan.sidecar)
    with _locked(photo), _backups(take_backup) as store:
        st = atomic.check_unchanged(target, plan.fingerprint, "it was planned")
        atomic.check_writable(target, st)
        state = _load(where, embedded=False)
        if (None if state.st is None else atomic.fingerprint(state.st)) != plan.fingerprint:
            raise MetadataError(f"{target}: changed on disk since it was planned; read it again", code="changed")
        source = state.data if state.data is not None else exiv.SIDECAR_SEED
        new = exiv.write(source, plan.changes, state.snapshot, str(target), sidecar=plan.sidecar)
        if not plan.sidecar:
            if plan.format == "jpeg":
                new = formats.refresh_iptc_digest(new)
            formats.check_same_image(source, new, plan.format, str(target))
        backup_id = None
        written = hashlib.sha256(new).hexdigest()  # restore compares content, not the inode
        if store is not None:
            backup_id = store.save(photo=photo, target=target, data=state.data, st=state.st, job_id=job_id)

        def on_ready(after: Fingerprint) -> None:
            if store is not None and backup_id is not None:
                store.set_after(backup_id, after, sha256=written)
            if before_replace is not None:
                before_replace(written, backup_id)

        try:
            after = atomic.replace(
                target,
                new,
                expect=plan.fingerprint,
                owner=state.st if state.st is not None else photo.stat(),
                keep_mtime=plan.keep_mtime,
                on_ready=on_ready,
            )
        except BaseException:
            now = atomic.stat_or_none(target)
            untouched = (None if now is None else atomic.fingerprint(now)) == plan.fingerprint
            if store is not None and backup_id is not None and untouched:
                store.forget(backup_id)
            raise
    return Applied(
        path=plan.path,
        target=plan.target,
        changed=[c.field for c in plan.changes],
        backup_id=backup_id,
        job_id=job_id,
        fingerprint=after,
        meta=exiv.read(new, str(target), sidecar=plan.sidecar).meta,
    )
