"""A write by another writer than a commit job, recorded on its draft (``DraftStore.record_write`` on real SQLite):
the draft takes the values written and the status its file leaves it in, as a step of the history; a draft the
person changed since the writer recalled it keeps its values; a draft committed before the memory is found again."""

from __future__ import annotations

from pathlib import Path

from imageworks.file_state import LastWrite
from imageworks.review import edits as E
from imageworks.review.drafts import BackupLink, Draft, FileFingerprint, FileWrite
from imageworks.review.rounds import Asked, FileWritten
from tests.test_review_support import generated, open_store

A, B = "/lib/a.jpg", "/lib/b.jpg"
LEFT = FileFingerprint(size=5, mtime_ns=6, pixels="aa")
OURS = LastWrite(caption="Rex", keywords=["dog"], added_flat=["dog"])


def told(path: str, version: int, *, not_written: tuple[str, ...] = (), asked: Asked | None = None) -> FileWritten:
    write = FileWrite(
        fingerprint=LEFT,
        backup=BackupLink(backup_id=4, target=path, job_id="job2"),
        written=OURS,
        not_written=not_written,
    )
    return FileWritten(path=path, version=version, write=write, asked=asked)


def holds(draft: Draft) -> bool:
    return True


def differs(draft: Draft) -> bool:
    return False


def test_a_tag_write_over_the_persons_approved_edits_is_a_step_they_can_undo(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A, ("beach", "sea")))
        draft = store.apply(E.SetCaption(path=A, caption="Mine"), draft.version, by="s1")
        draft = store.apply(E.RejectKeyword(path=A, keyword="sea"), draft.version, by="s1")
        draft = store.apply(E.Approve(path=A), draft.version, by="s1")
        other = store.upsert_generated(generated(B))
        result = generated(A, ("dog",), caption="Rex", description="", job_id="job2")
        saved = store.record_write(told(A, draft.version), holds, generated=result, job="job2", who="tag job job2")
        assert saved is not None and saved.status == "committed" and saved.proposal is None
        assert saved.edited.caption == "Rex" and saved.edited.description == "Waves roll onto the sand."  # no opinion
        assert [(k.keyword, k.state) for k in saved.edited.keywords] == [("dog", "suggested"), ("sea", "rejected")]
        assert saved.backup is not None and (saved.written, saved.backup.job_id, saved.fingerprint) == (
            OURS,
            "job2",
            LEFT,
        )
        store.record_write(told(B, other.version), holds, generated=generated(B, job_id="job2"), job="job2")
        moved = store.undo(by="s1")  # the tag job's write: one step for both drafts
        assert (moved.label, moved.who, sorted(moved.paths)) == ("write", "tag job job2", [A, B])
        back = store.get(A)
        assert back is not None and (back.status, back.edited.caption) == ("approved", "Mine")
        assert back.proposal is not None and back.proposal.values.caption == "Rex"  # the result, beside the edits
        assert back.written == OURS  # the file stays as written: the next write replaces it as ours


def test_a_draft_changed_since_the_writer_recalled_it_keeps_its_values(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A))
        recalled = draft.version
        draft = store.apply(E.SetCaption(path=A, caption="Typed meanwhile"), draft.version, by="s1")
        saved = store.record_write(told(A, recalled, asked=Asked(caption="Rex")), holds, job="cli-1")
        assert saved is not None and saved.edited.caption == "Typed meanwhile" and saved.status == "pending"
        assert saved.written == OURS and saved.last_change == "file written"
        assert store.history_state().undo_label == "set caption"  # the person's step stays the last one
        assert store.record_write(told(B, 0, asked=Asked(caption="x")), holds, job="cli-1") is None  # no draft


def test_asked_values_update_the_draft_and_what_was_kept_out_keeps_it_approved(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A, ("beach", "sea")))
        draft = store.apply(E.RejectKeyword(path=A, keyword="sea"), draft.version)
        draft = store.apply(E.Approve(path=A), draft.version)
        commit = FileWrite(fingerprint=LEFT, written=OURS)
        draft = store.record_commit(A, draft.version, commit, job="commit-1")
        assert draft.status == "committed"
        asked = Asked(caption="Rex at noon", keywords=["sea", "harbour"])
        kept = (
            "caption: changed in another program since the last write; kept (the overwrite mode, or edit the draft)",
        )
        saved = store.record_write(told(A, draft.version, asked=asked, not_written=kept), holds, job="cli-2")
        assert saved is not None and (saved.status, saved.not_written) == ("approved", kept)  # a write is still due
        assert saved.edited.caption == "Rex at noon"
        assert [(k.keyword, k.state) for k in saved.edited.keywords] == [
            ("beach", "suggested"),
            ("sea", "accepted"),  # written on purpose: no longer rejected
            ("harbour", "accepted"),
        ]
        replaced = store.record_write(
            told(A, saved.version, asked=Asked(keywords=["dune"], replace_keywords=True)), differs, job="cli-3"
        )
        assert replaced is not None and replaced.edited.kept_keywords == ["dune"] and replaced.status == "approved"
        pending = store.upsert_generated(generated(B))
        left = store.record_write(told(B, pending.version, asked=Asked(caption="x")), differs, job="cli-3")
        assert left is not None and left.status == "pending"  # nobody approved the rest of it


def test_the_last_commit_of_a_draft_edited_since_is_found_in_the_history(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.apply(E.Approve(path=A), store.upsert_generated(generated(A)).version)
        assert store.last_committed(A) is None  # never committed
        draft = store.record_commit(A, draft.version, FileWrite(fingerprint=LEFT), job="commit-1")
        assert store.last_committed(A) == draft  # itself, while committed
        store.apply(E.SetCaption(path=A, caption="Corrected"), draft.version)
    with open_store(tmp_path) as store:
        found = store.last_committed(A)
        assert found is not None and found.status == "committed" and found.edited.caption == "a beach at dusk"
        assert store.last_committed(B) is None
