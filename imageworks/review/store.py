"""DraftStore: every change of a review draft, written only by the daemon (on ``DraftRows``, rows.py).

The daemon's changes (a tag result, a file found changed, a commit, a restore) and the person's: edits are
optimistic (``apply(edit, base_version)``: a stale version raises ``Conflict`` and changes nothing) and undoable
(``history``): one history for the store, a batch edit is one step, a commit job's write is one step, a new edit
clears redo, kept across restarts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import msgspec

from imageworks.file_state import MetaSnapshot
from imageworks.review import history, rounds
from imageworks.review.codec import path_key
from imageworks.review.drafts import (
    BackupLink,
    Conflict,
    Draft,
    FileFingerprint,
    FileWrite,
    Generated,
    ReviewError,
    keyword_key,
)
from imageworks.review.edits import (
    ApproveAll,
    BatchEdit,
    DraftEdit,
    RenameKeyword,
    SetValues,
    apply_edit,
    describe_edit,
    expand,
    merge_generated,
)
from imageworks.review.rounds import FileWritten
from imageworks.review.rows import DAEMON, PAGE, SCHEMA_VERSION, DraftPage, DraftRows, default_path
from imageworks.review.vocabulary import Vocabulary

__all__ = ["DAEMON", "PAGE", "SCHEMA_VERSION", "DraftPage", "DraftStore", "default_path"]


class Travel(msgspec.Struct, frozen=True, kw_only=True):
    """What an undo or redo did: the drafts it changed, and the step it moved (empty ``label``: none to move)."""

    drafts: list[Draft] = []
    label: str = ""
    """The step's own label (``set caption``, ``write``)."""
    by: str = ""
    """The session that made the step."""
    who: str = ""
    """That session as a person knew it when it made the step (``tui (pid 4242)``)."""
    paths: list[str] = []
    """Every draft of the step."""


class VersionedEdit(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an import: an edit, made against ``base_version`` (None: as the draft is now, ``--force``)."""

    line: int
    edit: SetValues
    base_version: int | None


@dataclass(frozen=True)
class LineRefused:
    """An import line that was not applied, and why."""

    line: int
    path: str
    error: ReviewError


class DraftStore(DraftRows):
    """Open one per daemon; every method that changes a draft saves it as its next version."""

    # --- the daemon's writes -----------------------------------------------------------------------------------

    def upsert_generated(self, generated: Generated, vocabulary: Vocabulary | None = None) -> Draft:
        """A finished tag result becomes (or updates) its image's draft; keywords mapped onto ``vocabulary`` first.
        An edited draft keeps its edits and gets the new values as ``proposal``."""
        return self.upsert_many([generated], vocabulary)[0]

    def upsert_many(self, results: Iterable[Generated], vocabulary: Vocabulary | None = None) -> list[Draft]:
        """``upsert_generated`` for a batch of results, in one transaction."""
        out: list[Draft] = []
        now = time.time()
        with self._write():
            for generated in results:
                if vocabulary is not None:
                    generated = msgspec.structs.replace(generated, values=vocabulary.map_values(generated.values))
                current = self._load(generated.path)
                merged = merge_generated(current, generated, now)
                out.append(self._save(merged, by=DAEMON, change="re-tag" if current else "tagged"))
        return out

    def mark_stale(self, path: str, reason: str) -> Draft:
        """The file changed since the model looked at it: the draft waits for a re-tag or a new approval."""
        with self._write():
            draft = self._require(path)
            stale = msgspec.structs.replace(draft, status="stale", stale_reason=reason)
            return self._save(stale, by=DAEMON, change="stale")

    def record_commit(
        self, path: str, version: int, write: FileWrite, *, job: str = "", by: str = DAEMON, who: str = ""
    ) -> Draft:
        """A commit of the draft's ``version`` reached its file. What the file now holds is recorded in any case;
        the draft becomes ``committed`` when every value reached it and the person has not changed the draft since
        (a write is a step of the history: the commit job's step, made on behalf of session ``by``)."""
        with self._write():
            draft = self._require(path)
            facts = msgspec.structs.replace(
                draft,
                fingerprint=write.fingerprint,
                backup=write.backup or draft.backup,
                written=write.written or draft.written,
                file_meta=write.file_meta or draft.file_meta,
            )
            if draft.version != version:  # edited since it was planned: the new version waits for its own write
                return self._save(facts, by=DAEMON, change="file written")
            status = draft.status if write.not_written else "committed"
            done = msgspec.structs.replace(facts, status=status, not_written=write.not_written)
            saved = self._save(done, by=DAEMON, change="committed" if status == "committed" else "partly written")
            if status != draft.status:
                history.record_write(self._db, job, by, who, draft, saved)
            return saved

    def record_write(
        self,
        written: FileWritten,
        holds: Callable[[Draft], bool],
        *,
        generated: Generated | None = None,
        vocabulary: Vocabulary | None = None,
        job: str = "",
        by: str = DAEMON,
        who: str = "",
        label: str = "written",
    ) -> Draft | None:
        """A write of the draft's file by another writer than a commit job (the tag job's ``--write`` with its
        result ``generated``, ``metadata write``): the draft takes the values written (``rounds.taken``), the file
        as left, and the status the file leaves it in (``holds``: whether the file holds every value of a draft); a
        step of the history, as a commit's write is. A draft the person changed since the writer recalled it keeps
        its values (they wait for their own write). None: the photo has no draft, and the write made none."""
        with self._write():
            before = self._load(written.path)
            base = before
            if generated is not None:
                if vocabulary is not None:
                    generated = msgspec.structs.replace(generated, values=vocabulary.map_values(generated.values))
                base = merge_generated(before, generated, time.time())
            if base is None:
                return None
            write = written.write
            facts = msgspec.structs.replace(
                base,
                fingerprint=write.fingerprint,
                backup=write.backup or base.backup,
                written=write.written or base.written,
                file_meta=write.file_meta or base.file_meta,
            )
            if before is not None and before.version != written.version:
                return self._save(facts, by=DAEMON, change="re-tag" if generated is not None else "file written")
            after = msgspec.structs.replace(
                rounds.taken(facts, written.asked, generated), not_written=write.not_written
            )
            holding = not write.not_written and holds(after)
            saved = self._save(
                rounds.settled(before, after, holds=holding, fresh=generated is not None), by=DAEMON, change=label
            )
            # undoing the write leaves the file as written: values the draft held there then wait for a write again
            undone = msgspec.structs.replace(base, status="approved") if base.status == "committed" else base
            history.record_write(self._db, job, by, who, undone, saved)
            return saved

    def rename_path(self, old: str, new: str) -> Draft:
        """The photo of ``old``'s draft now lives at ``new`` (the daemon moved it): the draft, its values and its undo
        history follow it, as a new version. Refuses (ReviewError) when ``new`` already has a draft."""
        with self._write():
            draft = self._require(old)
            if self._load(new) is not None:
                raise ReviewError(f"{new}: already has a draft; {old}'s stays where it is")
            moved = self._save(msgspec.structs.replace(draft, path=new), by=DAEMON, change=f"moved from {old}")
            for table in ("drafts", "bodies"):
                self._db.execute(f"DELETE FROM {table} WHERE path = ?", (path_key(old),))
            history.rename(self._db, old, new)
            return moved

    def record_restore(
        self, path: str, fingerprint: FileFingerprint, backup: BackupLink | None, file_meta: MetaSnapshot | None
    ) -> Draft | None:
        """``metadata restore`` put the file back as it was before ImageWorks wrote it: a committed draft is
        approved-not-written again, its backup consumed (``backup``: an older one still to restore, if any), the
        file read anew (``fingerprint``, ``file_meta``) and nothing in it ours any more. None: the file has no
        draft."""
        with self._write():
            draft = self._load(path)
            if draft is None:
                return None
            status = "approved" if draft.status == "committed" else draft.status
            back = msgspec.structs.replace(
                draft,
                status=status,
                backup=backup,
                written=None,
                fingerprint=fingerprint,
                file_meta=file_meta,
                not_written=(),
            )
            return self._save(back, by=DAEMON, change="restored")

    # --- the person's edits ------------------------------------------------------------------------------------

    def apply(self, edit: DraftEdit, base_version: int, *, by: str = "", who: str = "") -> Draft:
        """Apply ``edit`` to the draft it names, made against ``base_version``; returns the new draft (the same
        one, unchanged, when the edit changes nothing). Raises ``Conflict`` if the draft moved on since. ``by`` is
        the session, ``who`` that session as a person knows it (kept with the undo step)."""
        with self._write():
            draft = self._require(edit.path)
            if draft.version != base_version:
                raise Conflict(draft.path, base_version, draft.version, draft.changed_by, draft.last_change)
            return next(iter(self._apply_step([edit], describe_edit(edit), by, who)), draft)

    def apply_batch(self, edit: BatchEdit, *, by: str = "", who: str = "") -> list[Draft]:
        """Apply a batch edit to every draft of its selection as it is now; one undo step. Returns the changed
        drafts. Approving all passes over stale drafts: each needs a look (and its own approval) first."""
        selection = edit.selection
        with self._write():
            targets = list(selection.paths) or self._paths(selection.root, selection.query)
            if isinstance(edit, ApproveAll):
                targets = [path for path in targets if self._require(path).status != "stale"]
            return self._apply_step([expand(edit, path) for path in targets], describe_edit(edit), by, who)

    def apply_lines(
        self,
        lines: list[VersionedEdit],
        *,
        partial: bool = False,
        check_only: bool = False,
        by: str = "",
        who: str = "",
        label: str = "import",
    ) -> tuple[list[Draft], list[LineRefused]]:
        """Apply edits made elsewhere (``review import``), each against the version it names (None: as the draft
        is now): one undo step. A line that cannot be applied (no such draft, a newer version, a bad edit) is
        refused; with any refused, nothing is applied unless ``partial`` (with ``check_only``, nothing at all).
        Returns (the changed drafts, refusals)."""
        refused: list[LineRefused] = []
        with self._write():
            pending: dict[str, Draft] = {}
            changed: dict[str, tuple[Draft, Draft]] = {}
            for line in lines:
                path = line.edit.path
                try:
                    stored = self._require(path)
                    if line.base_version is not None and line.base_version != stored.version:
                        raise Conflict(path, line.base_version, stored.version, stored.changed_by, stored.last_change)
                    before = pending.get(path, stored)
                    after = apply_edit(before, line.edit)
                except ReviewError as exc:
                    refused.append(LineRefused(line=line.line, path=path, error=exc))
                    continue
                pending[path] = after
                if after is not before:
                    changed[path] = (stored, after)
            if check_only or (refused and not partial):
                return [], refused
            saved = [(before, self._save(after, by=by, change=label)) for before, after in changed.values()]
            if saved:
                history.record(self._db, label, by, saved, {}, who=who)
        return [after for _, after in saved], refused

    def _apply_step(self, edits: list[DraftEdit], label: str, by: str, who: str) -> list[Draft]:
        changed: list[tuple[Draft, Draft]] = []
        renamed: Counter[tuple[str, str]] = Counter()
        for edit in edits:
            before = self._require(edit.path)
            after = apply_edit(before, edit)
            if after is before:
                continue
            changed.append((before, self._save(after, by=by, change=label)))
            if isinstance(edit, RenameKeyword):
                renamed[keyword_key(edit.old), edit.new] += 1
        if changed:
            history.record(self._db, label, by, changed, renamed, who=who)
            self._remember_renames(renamed, +1)
        return [after for _, after in changed]

    def _remember_renames(self, renamed: Mapping[tuple[str, str], int], sign: int) -> None:
        """Count (or, for an undo, uncount) renames: the vocabulary's rename memory."""
        self._db.executemany(
            "INSERT INTO renames VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET times = times + excluded.times",
            [(old, new, sign * times) for (old, new), times in renamed.items()],
        )
        self._db.execute("DELETE FROM renames WHERE times <= 0")

    def undo(self, *, by: str = "") -> Travel:
        """Undo the latest step not undone yet (anyone's: ``Travel`` says whose); ``drafts`` are the drafts it
        changed (an empty ``label``: nothing to undo). Raises ``Conflict`` if one of them changed since that step.
        A write is a step too: undoing it makes its drafts approved-not-written again (the file stays as it is)."""
        return self._travel(undo=True, by=by)

    def redo(self, *, by: str = "") -> Travel:
        return self._travel(undo=False, by=by)

    def _travel(self, *, undo: bool, by: str) -> Travel:
        with self._write():
            step = history.next_step(self._db, undo=undo)
            if step is None:
                return Travel()
            out: list[Draft] = []
            change = f"{'undo' if undo else 'redo'} {step.label}"
            for expected, target in step.drafts:
                current = self._require(target.path)
                if history.same_values(current, target):
                    continue  # already as the step leaves it (a restore moved a written draft back, say)
                if not history.same_values(current, expected):
                    raise Conflict(
                        current.path, expected.version, current.version, current.changed_by, current.last_change
                    )
                out.append(self._save(history.restored(target, current), by=by, change=change))
            history.moved(self._db, step.step, undo=undo)
            self._remember_renames(step.renamed, -1 if undo else +1)
            paths = [target.path for _, target in step.drafts]
            return Travel(drafts=out, label=step.label, by=step.by, who=step.who, paths=paths)
