"""DraftStore on real SQLite: optimistic edits, undo/redo across a reopen, re-tags, the change sequence, paging."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from imageworks.file_state import LastWrite
from imageworks.review import edits as E
from imageworks.review import history
from imageworks.review.drafts import BackupLink, Conflict, Draft, FileFingerprint, FileWrite, ReviewError, UnknownDraft
from imageworks.review.store import DAEMON, SCHEMA_VERSION, DraftStore, VersionedEdit
from imageworks.review.vocabulary import Vocabulary
from imageworks.schema import version_of
from tests.test_review_support import generated, open_store

A, B = "/lib/a.jpg", "/lib/b.jpg"


def draft_of(store: DraftStore, path: str) -> Draft:
    """The draft of ``path``, which the test made."""
    draft = store.get(path)
    assert draft is not None, path
    return draft


def test_the_store_lives_in_the_state_dir_in_wal_mode(xdg: dict[str, Path]) -> None:
    with DraftStore() as store:
        assert store.path == xdg["state"] / "imageworks" / "drafts.sqlite3"
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_stale_edit_is_a_conflict_that_changes_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        loaded = store.upsert_generated(generated(A))
        first = store.apply(E.SetCaption(path=A, caption="Mine"), loaded.version, by="tui-1")
        assert first.version == loaded.version + 1 and first.changed_by == "tui-1"
        with pytest.raises(Conflict) as info:
            store.apply(E.SetCaption(path=A, caption="Theirs"), loaded.version, by="tui-2")
        assert info.value.current_version == first.version and info.value.changed_by == "tui-1"
        assert "tui-1" in str(info.value) and "set caption" in str(info.value)
        now = store.get(A)
        assert now == first and now is not None and now.edited.caption == "Mine"
        with pytest.raises(ReviewError, match="no draft"):
            store.apply(E.Approve(path=B), 1)


def test_sixty_undos_then_sixty_redos_across_a_reopen(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.upsert_many([generated(A), generated(B)])
        for i in range(60):
            path = A if i % 2 else B
            draft = store.get(path)
            assert draft is not None
            store.apply(E.SetCaption(path=path, caption=f"caption {i}"), draft.version, by="tui")
        final = {p: store.get(p) for p in (A, B)}
    with open_store(tmp_path) as store:  # a daemon restart
        assert store.history_state().undo_steps == 60
        for _ in range(60):
            assert len(store.undo(by="tui").drafts) == 1
        assert store.undo().label == "" and store.history_state().redo_steps == 60
        for path in (A, B):
            draft = store.get(path)
            assert draft is not None and draft.edited.caption == "a beach at dusk" and not draft.is_edited
    with open_store(tmp_path) as store:
        for _ in range(60):
            assert len(store.redo(by="tui").drafts) == 1
        assert store.redo().label == ""
        for path, before in final.items():
            draft = store.get(path)
            assert draft is not None and before is not None
            assert draft.edited == before.edited and draft.version == before.version + 60  # 30 undos and 30 redos each


def test_a_batch_edit_is_one_step_and_a_new_edit_clears_redo(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.upsert_many([generated(f"/lib/{i}.jpg", ["puppy"] if i < 3 else ["cat"]) for i in range(5)])
        selection = E.Selection(root="/lib", query="kw:puppy")
        changed = store.apply_batch(E.RenameKeywordEverywhere(selection=selection, old="puppy", new="dog"), by="t")
        assert len(changed) == 3 and store.history_state().undo_label == "rename keyword all puppy → dog"
        approved = store.apply_batch(E.ApproveAll(selection=E.Selection(root="/lib")), by="t")
        assert len(approved) == 5
        assert len(store.undo().drafts) == 5 and len(store.undo().drafts) == 3
        assert store.list_drafts("/lib", "kw:dog").total == 0 and store.list_drafts("/lib", "kw:puppy").total == 3
        assert store.history_state().redo_steps == 2
        draft = store.get("/lib/0.jpg")
        assert draft is not None
        store.apply(E.Reject(path=draft.path), draft.version)
        state = store.history_state()
        assert state.redo_steps == 0 and state.redo_label is None and store.redo().drafts == []


def test_undo_never_throws_away_a_change_made_since(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A))
        store.apply(E.AddKeyword(path=A, keyword="holiday"), draft.version, by="tui-1")
        store.mark_stale(A, "its content changed")
        with pytest.raises(Conflict, match="by daemon"):
            store.undo(by="tui-2")
        after = store.get(A)
        assert after is not None and after.status == "stale" and "holiday" in after.edited.kept_keywords


def test_a_retag_keeps_the_edits_and_offers_the_new_values_beside_them(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A, ["beach", "people"]))
        draft = store.apply(E.RemoveKeyword(path=A, keyword="people"), draft.version)
        draft = store.apply(E.SetCaption(path=A, caption="Our beach"), draft.version)
        again = store.upsert_generated(generated(A, ["people", "dune"], caption="new words", job_id="job2"))
        assert again.edited == draft.edited and again.edited.caption == "Our beach"
        assert again.proposal is not None and [k.keyword for k in again.proposal.values.keywords] == ["dune"]
        assert again.changed_by == DAEMON and again.last_change == "re-tag"
        assert [d.path for d in store.list_drafts(filter="proposal:yes").drafts] == [A]
        untouched = store.upsert_generated(generated(B))
        fresh = store.upsert_generated(generated(B, ["harbour"], job_id="job2"))
        assert fresh.proposal is None and fresh.edited.kept_keywords == ["harbour"]
        assert fresh.version == untouched.version + 1


def test_changes_since_gives_every_draft_changed_after_a_sequence_number(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        a, b = store.upsert_many([generated(A), generated(B)])
        seen = store.last_seq()
        assert seen == b.seq > a.seq
        a2 = store.apply(E.Approve(path=A), a.version)
        a3 = store.apply(E.AddKeyword(path=A, keyword="dune"), a2.version)
        changes = store.changes_since(seen)
        assert changes == [a3]  # coalesced: a client that was at `seen` needs A's latest state only
        b2 = store.apply(E.Reject(path=B), b.version)
        assert [d.path for d in store.changes_since(seen)] == [A, B] and store.changes_since(b2.seq) == []
        assert store.changes_since(0, limit=1) == [a3]


def test_rename_memory_maps_a_later_proposal(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.upsert_many([generated(f"/lib/{i}.jpg", ["puppy", "grass"]) for i in range(3)])
        for i in range(2):
            path = f"/lib/{i}.jpg"
            draft = store.get(path)
            assert draft is not None
            store.apply(E.RenameKeyword(path=path, old="puppy", new="dog"), draft.version)
            vocabulary = Vocabulary.build(library={"grass": 4}, renames=store.renames())
            later = store.upsert_generated(generated("/lib/new.jpg", ["Puppies", "grass"]), vocabulary)
            mapped = later.edited.keywords[0]
            if i == 0:  # once is not yet a habit
                assert mapped.keyword == "Puppies" and mapped.source == "model" and mapped.new
            else:
                assert (mapped.keyword, mapped.source, mapped.mapped_from) == ("dog", "mapped", "Puppies")
        assert store.renames() == {("puppy", "dog"): 2}
        assert later.edited.keywords[1].new is False
        store.undo()  # the last rename was a mistake: the memory forgets it too
        assert store.renames() == {("puppy", "dog"): 1}
        store.redo()
        assert store.renames() == {("puppy", "dog"): 2}


def test_commit_and_staleness_are_recorded_by_the_daemon(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A))
        draft = store.apply(E.Approve(path=A), draft.version)
        after = FileFingerprint(size=1, mtime_ns=2, pixels="ff")
        link = BackupLink(backup_id=7, target=A, job_id="commit-1", at=time.time())
        ours = LastWrite(caption="a beach at dusk", keywords=["beach", "sea"], added_flat=["beach", "sea"])
        write = FileWrite(fingerprint=after, backup=link, written=ours)
        # planned against an older version (the person edited meanwhile): the file's facts, not the status
        early = store.record_commit(A, draft.version - 1, write, job="commit-1")
        assert early.status == "approved" and early.written == ours and early.fingerprint == after
        assert store.history_state().undo_steps == 1
        done = store.record_commit(A, early.version, write, job="commit-1", by="s1", who="tui (pid 42)")
        assert done.status == "committed" and done.backup == link and done.fingerprint == after
        state = store.history_state()  # the write is a step, the asking session's
        assert (state.undo_steps, state.undo_label, state.undo_who) == (2, "write", "tui (pid 42)")
        stale = store.mark_stale(A, "its pixels changed")
        assert (stale.status, stale.stale_reason, stale.changed_by) == ("stale", "its pixels changed", DAEMON)
        assert store.history_state().undo_steps == 2  # marking stale is the daemon's, not an undo step


def test_undo_and_redo_pass_a_write_keeping_what_the_file_holds(tmp_path: Path) -> None:
    """Approve, write, then undo: approved-not-written again (the file is as written: the draft still knows
    what is ours in it); undo again: pending; redo twice: committed again. Across a reopen (a daemon restart)."""
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A))
        draft = store.apply(E.SetCaption(path=A, caption="Rex"), draft.version, by="s1", who="tui (pid 1)")
        draft = store.apply(E.Approve(path=A), draft.version, by="s1", who="tui (pid 1)")
        ours = LastWrite(caption="Rex", keywords=["beach"], added_flat=["beach"])
        write = FileWrite(fingerprint=FileFingerprint(size=5, mtime_ns=6, pixels="aa"), written=ours)
        store.record_commit(A, draft.version, write, job="commit-1", by="s1", who="tui (pid 1)")
        other = store.upsert_generated(generated(B))
        store.apply(E.Reject(path=B), other.version, by="s2", who="tui (pid 2)")
    with open_store(tmp_path) as store:
        moved = store.undo(by="s1")
        assert (moved.label, moved.who, moved.paths) == ("reject", "tui (pid 2)", [B])  # someone else's: named
        moved = store.undo(by="s1")
        assert (moved.label, moved.by, moved.who) == ("write", "s1", "tui (pid 1)")
        back = moved.drafts[0]
        assert back.status == "approved" and back.written == ours and back.fingerprint.pixels == "aa"
        assert store.undo(by="s1").drafts[0].status == "pending"
        assert store.undo(by="s1").drafts[0].edited.caption == "a beach at dusk"
        assert store.redo().drafts[0].edited.caption == "Rex"
        store.redo()
        again = store.redo().drafts[0]
        assert again.status == "committed" and again.written == ours


def test_a_restore_moves_a_written_draft_back_and_undo_steps_over_it(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        draft = store.apply(E.Approve(path=A), store.upsert_generated(generated(A)).version)
        link = BackupLink(backup_id=3, target=A)
        write = FileWrite(fingerprint=FileFingerprint(size=5, mtime_ns=6, pixels="aa"), backup=link,
                          written=LastWrite(caption="x"))  # fmt: skip
        store.record_commit(A, draft.version, write, job="commit-1")
        now = FileFingerprint(size=4, mtime_ns=9, pixels="aa")
        back = store.record_restore(A, now, None, None)
        assert back is not None and back.status == "approved" and back.backup is None and back.written is None
        assert back.fingerprint == now and store.record_restore(B, now, None, None) is None
        assert store.undo().label == "write" and draft_of(store, A).status == "approved"  # nothing to undo there
        assert store.undo().drafts[0].status == "pending"


def test_an_import_applies_every_line_or_none_and_refuses_older_versions(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        a, b = store.upsert_many([generated(A), generated(B)])
        newer = store.apply(E.SetCaption(path=B, caption="Newer"), b.version, by="tui")
        lines = [
            VersionedEdit(line=1, edit=E.SetValues(path=A, keywords=("beach", "dune")), base_version=a.version),
            VersionedEdit(line=2, edit=E.SetValues(path=B, caption="Old"), base_version=b.version),
            VersionedEdit(line=3, edit=E.SetValues(path="/lib/none.jpg", caption="x"), base_version=1),
        ]
        changed, refused = store.apply_lines(lines)
        assert changed == [] and [(r.line, type(r.error)) for r in refused] == [(2, Conflict), (3, UnknownDraft)]
        assert store.get(A) == a and store.get(B) == newer  # nothing applied; the newer caption kept
        changed, refused = store.apply_lines(lines, partial=True, by="cli", who="cli (pid 9)")
        assert [d.path for d in changed] == [A] and len(refused) == 2
        assert draft_of(store, B).edited.caption == "Newer"
        forced = [VersionedEdit(line=2, edit=E.SetValues(path=B, caption="Old"), base_version=None)]
        assert store.apply_lines(forced)[0][0].edited.caption == "Old"
        assert store.undo().label == "import" and draft_of(store, B).edited.caption == "Newer"


def test_an_older_drafts_store_is_migrated_and_its_drafts_and_steps_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "drafts.sqlite3"
    with open_store(tmp_path) as store:
        draft = store.upsert_generated(generated(A))
        store.apply(E.SetCaption(path=A, caption="Mine"), draft.version, by="tui")
    db = sqlite3.connect(path)  # as the last release left it: no who and job columns, its version in meta
    db.executescript(
        f"CREATE TABLE h AS SELECT step, label, by, at, undone, renamed FROM history; DROP TABLE history;"
        f"{history.SCHEMA.split(';')[0]}; INSERT INTO history SELECT * FROM h; DROP TABLE h;"
        "INSERT INTO meta VALUES ('schema', 2); PRAGMA user_version = 0;"
    )
    assert "who" not in {row[1] for row in db.execute("PRAGMA table_info(history)")}
    db.close()
    with DraftStore(path) as store:
        assert version_of(store._db) == SCHEMA_VERSION
        assert store._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() is None
        moved = store.undo(by="tui")
        assert (moved.label, moved.who) == ("set caption", "") and moved.drafts[0].edited.caption == "a beach at dusk"


def test_roots_pages_and_a_non_utf8_file_name(tmp_path: Path) -> None:
    odd = os.fsdecode(b"/lib/caf\xe9.jpg")
    with open_store(tmp_path) as store:
        store.upsert_many([generated(p) for p in ("/lib/x/1.jpg", "/lib/2.jpg", "/library/3.jpg", "/lib0/4.jpg", odd)])
        first = store.list_drafts("/lib/", limit=2)
        assert first.total == 3 and [d.path for d in first.drafts] == ["/lib/2.jpg", odd]
        rest = store.list_drafts("/lib", after=first.next_after, limit=2)
        assert [d.path for d in rest.drafts] == ["/lib/x/1.jpg"] and rest.next_after is None
        got = store.get(odd)
        assert got is not None and got.path == odd
        assert store.apply(E.Approve(path=odd), got.version).status == "approved"
        assert [d.path for d in store.changes_since(0)][-1] == odd


def test_keyword_counts_for_the_all_keywords_pane(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.upsert_many([generated(A, ["beach", "sea"]), generated(B, ["beach"])])
        draft = store.get(A)
        assert draft is not None
        store.apply(E.RejectKeyword(path=A, keyword="sea"), draft.version)
        store.apply(E.Approve(path=B), 1)
        assert store.keyword_counts("/lib") == {"beach": 2}
        assert store.keyword_counts(filter="status:approved OR status:committed") == {"beach": 1}


def test_twenty_thousand_drafts_list_with_a_filter_in_well_under_a_second(tmp_path: Path) -> None:
    words = ["beach", "people", "dog", "sunset", "tree", "car", "city", "snow"]
    with open_store(tmp_path) as store:
        store.upsert_many(
            generated(f"/lib/{i // 1000:02d}/img{i:05d}.jpg", [words[i % 8], words[(i // 8) % 8]], caption=f"c{i}")
            for i in range(20_000)
        )
        approve = E.ApproveAll(selection=E.Selection(root="/lib/03"))
        assert len(store.apply_batch(approve)) == 1000
        start = time.perf_counter()
        page = store.list_drafts("/lib", "kw:beach status:pending -kw:people OR caption:c1999", limit=200)
        elapsed = time.perf_counter() - start
        print(f"\n20 000 drafts: a filtered page of {len(page.drafts)} (of {page.total}) in {elapsed * 1000:.1f} ms")
        assert len(page.drafts) == 200 and page.next_after is not None
        assert all(
            ("beach" in d.edited.kept_keywords and "people" not in d.edited.kept_keywords and d.status == "pending")
            or "c1999" in d.edited.caption
            for d in page.drafts
        )
        assert elapsed < 0.5

        def expected(i: int) -> bool:
            kept = {words[i % 8], words[(i // 8) % 8]}
            pending = not 3000 <= i < 4000
            return ("beach" in kept and "people" not in kept and pending) or "c1999" in f"c{i}"

        assert page.total == sum(map(expected, range(20_000)))
