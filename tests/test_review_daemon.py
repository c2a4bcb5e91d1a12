"""Review through a real daemon: drafts read and edited by protocol requests, published live to other clients,
conflicts, undo/redo across a restart, and the commit job (exiftool reads back what it wrote).

Drafts are seeded into the state dir's store before the daemon starts (it then owns the store): these tests are
about the protocol, not the tagger; tests/test_review_daemon_tag.py makes drafts from a real tag run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imageworks import protocol as P
from imageworks.client import Client
from imageworks.errors import DaemonError
from imageworks.jobs.records import CommitRecord
from imageworks.review import edits as E
from imageworks.review.fingerprint import file_fingerprint
from imageworks.review.store import DraftStore
from tests.test_metadata_support import as_list, exif_one, needs_exiftool
from tests.test_review_support import generated
from tests.typed_records import records_of
from tests.waiting import wait_for


def make_photos(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"{i:04d}.jpg"
        Image.new("RGB", (24, 24), (i % 256, 80, 160)).save(path, quality=90)
        out.append(str(path))
    return out


def seed_drafts(paths: list[str], keywords: tuple[str, ...] = ("beach", "sea")) -> None:
    """Drafts as a finished tag run leaves them, before the daemon (their one writer from then on) starts."""
    with DraftStore() as store:
        store.upsert_many(
            generated(path, keywords, caption=f"caption {i}", item=i, fingerprint=file_fingerprint(path))
            for i, path in enumerate(paths)
        )


def commit(client: Client, **kwargs: Any) -> dict[str, CommitRecord]:
    """Run a commit job to its end; the per-file records by path."""
    job = client.review_commit(**kwargs).job
    assert job is not None  # the test made drafts to write
    updates = list(client.follow(job.job_id))
    assert isinstance(updates[-1], P.JobInfo) and updates[-1].state == "done", updates[-1]
    results = [u for u in updates if isinstance(u, P.ResultRecord)]
    return {r.path: r for r in records_of(results, CommitRecord)}


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_edits_are_published_to_other_clients_and_a_stale_edit_conflicts(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 3)
    seed_drafts(paths)
    start_daemon()
    with Client("tui-a") as a, Client("tui-b") as b:
        page = b.review_list(str(tmp_path / "lib"))
        assert page.total == 3 and [d.path for d in page.drafts] == paths
        seen: list[P.ReviewEvent] = []
        events = b.review_events(idle_timeout=10)
        listening = threading.Event()

        def listen() -> None:
            listening.set()
            for event in events:
                seen.append(event)
                if any(d.edited.caption == "Evening swim" for d in event.drafts):
                    return

        reader = threading.Thread(target=listen)
        reader.start()
        listening.wait(5)
        draft = page.drafts[0]

        def edit_until_seen() -> bool:
            # PUB/SUB: a subscription takes effect a moment after it is made, so the first edit may go unseen
            current = a.review_get(draft.path)
            a.review_edit(E.SetCaption(path=draft.path, caption="Evening swim"), current.version)
            reader.join(0.2)
            return not reader.is_alive()

        wait_for(edit_until_seen, timeout=10, what="client b to see client a's edit")
        event = seen[-1]
        assert event.by == a.session and event.label == "set caption"
        assert event.drafts[0].edited.caption == "Evening swim" and event.seq == event.drafts[0].seq
        with pytest.raises(DaemonError) as err:
            b.review_edit(E.AddKeyword(path=draft.path, keyword="dusk"), draft.version)
        assert err.value.code == "conflict"
        now = b.review_get(draft.path)
        assert f"it is now {now.version}" in str(err.value) and "set caption" in str(err.value)
        assert "dusk" not in now.edited.kept_keywords
        changes = b.review_changes(page.seq)
        assert [d.path for d in changes.drafts] == [draft.path] and changes.last_seq == now.seq


def test_a_conflict_names_the_other_client_as_status_lists_it(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 1)
    seed_drafts(paths)
    start_daemon()
    edited = tmp_path / "edited.jsonl"
    with Client("tui") as c:
        loaded = c.review_get(paths[0])
        line = {"path": paths[0], "version": loaded.version, "edited": {"caption": "From a script"}}
        edited.write_text(json.dumps(line) + "\n")
        # another process (the CLI, a client of its own) changes the draft and exits: it said bye, but is named
        other = subprocess.Popen([sys.executable, "-m", "imageworks", "review", "import", str(edited)], text=True)
        assert other.wait(120) == 0
        with pytest.raises(DaemonError) as err:
            c.review_edit(E.SetCaption(path=paths[0], caption="Mine"), loaded.version)
        assert err.value.code == "conflict"
        assert f"changed by cli (pid {other.pid}) (import) since you loaded it" in str(err.value)
        assert [info.name for info in c.status().clients] == ["tui"]  # the CLI is no longer listed


def test_batch_keywords_completion_and_query_errors(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 4)
    seed_drafts(paths[:2], ("beach", "sea"))
    seed_drafts(paths[2:], ("forest", "sea"))
    start_daemon()
    with Client() as c:
        root = str(tmp_path / "lib")
        done = c.review_batch(E.RenameKeywordEverywhere(selection=E.Selection(root=root), old="sea", new="ocean"))
        assert len(done.drafts) == 4 and done.history.undo_label == "rename keyword all sea → ocean"
        counts = c.review_keywords(root)
        assert [(k.keyword, k.count) for k in counts.keywords] == [("ocean", 4), ("beach", 2), ("forest", 2)]
        assert counts.drafts == 4
        assert c.review_keywords(root, "kw:forest").drafts == 2
        approved = c.review_batch(E.ApproveAll(selection=E.Selection(root=root, query="kw:beach")))
        assert {d.path for d in approved.drafts} == set(paths[:2])
        assert [s.keyword for s in c.review_complete("oc")] == ["ocean"]
        with pytest.raises(DaemonError) as err:
            c.review_list(root, "colour:red")
        assert err.value.code == "bad_request" and "unknown field 'colour'" in str(err.value)
        with pytest.raises(DaemonError) as err:
            c.review_get(str(tmp_path / "nope.jpg"))
        assert err.value.code == "unknown_draft"


def test_undo_and_redo_survive_a_daemon_restart(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    daemon = start_daemon()
    with Client("test") as c:
        first = c.review_get(paths[0])
        c.review_edit(E.SetCaption(path=paths[0], caption="edited"), first.version)
        c.review_edit(E.Approve(path=paths[0]), c.review_get(paths[0]).version)
        first_session = c.session
    daemon.stop()
    start_daemon()
    with Client() as c:
        undone = c.review_undo()
        assert undone.label == "undo approve" and undone.drafts[0].status == "pending"
        assert undone.step_by == first_session and undone.step_who.startswith("test (pid ")  # kept over the restart
        assert c.review_undo().drafts[0].edited.caption == "caption 0"
        redone = c.review_redo()
        assert redone.drafts[0].edited.caption == "edited" and redone.history.redo_label == "approve"


@needs_exiftool
def test_commit_writes_the_persons_values_and_leaves_rejected_files_alone(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 3)
    seed_drafts(paths, ("beach", "sea", "people"))
    start_daemon()
    untouched = sha(paths[1])
    with Client() as c:
        for edit in (
            E.SetCaption(path=paths[0], caption="Anna at the beach"),
            E.RemoveKeyword(path=paths[0], keyword="people"),
            E.AddKeyword(path=paths[0], keyword="Animals|Dog"),
            E.Approve(path=paths[0]),
            E.Reject(path=paths[1]),
        ):
            c.review_edit(edit, c.review_get(edit.path).version)
        before = sha(paths[0])
        planned = commit(c, root=str(tmp_path / "lib"), dry_run=True)
        assert set(planned) == {paths[0]} and planned[paths[0]].action == "would_write"
        assert any("Anna at the beach" in line for line in planned[paths[0]].changes)
        assert sha(paths[0]) == before and c.review_get(paths[0]).status == "approved"

        outcome = commit(c, root=str(tmp_path / "lib"))
        assert outcome[paths[0]].action == "written" and outcome[paths[0]].backup_id is not None
        draft = wait_for(lambda: (d := c.review_get(paths[0])).status == "committed" and d, what="committed")
        assert draft.backup is not None and draft.backup.backup_id == outcome[paths[0]].backup_id
        assert draft.fingerprint == file_fingerprint(paths[0])

    tags = exif_one(Path(paths[0]))
    assert tags["XMP-dc:Title"] == "Anna at the beach"
    subjects = as_list(tags["XMP-dc:Subject"])
    assert {"beach", "sea", "Dog"} <= set(subjects) and "people" not in subjects
    assert "Animals|Dog" in as_list(tags["XMP-lr:HierarchicalSubject"])
    assert sha(paths[1]) == untouched


@needs_exiftool
def test_a_file_changed_after_preview_is_stale_and_skipped(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 2)
    seed_drafts(paths)
    start_daemon()
    with Client() as c:
        c.review_batch(E.ApproveAll(selection=E.Selection(paths=tuple(paths))))
        Image.new("RGB", (30, 30), (1, 2, 3)).save(paths[1])  # edited in another tool after the preview
        changed = sha(paths[1])
        outcome = commit(c, paths=paths)
        assert outcome[paths[0]].action == "written"
        assert outcome[paths[1]].action == "stale" and "pixels changed" in outcome[paths[1]].reason
        draft = wait_for(lambda: (d := c.review_get(paths[1])).status == "stale" and d, what="the draft marked stale")
        assert "pixels changed" in draft.stale_reason and sha(paths[1]) == changed
        # approving it again approves the file as it is now; the next commit writes it
        c.review_edit(E.Approve(path=paths[1]), draft.version)
        assert commit(c, paths=[paths[1]])[paths[1]].action == "written"


@needs_exiftool
def test_commit_killed_midway_finishes_on_a_rerun_without_duplicating_a_keyword(start_daemon, tmp_path):
    paths = make_photos(tmp_path / "lib", 120)
    seed_drafts(paths, ("beach", "sea"))
    daemon = start_daemon()
    with Client() as c:
        c.review_batch(E.AddKeywordEverywhere(selection=E.Selection(), keyword="holiday"))
        c.review_batch(E.ApproveAll(selection=E.Selection()))
        job = c.review_commit().job
        for update in c.follow(job.job_id):
            if isinstance(update, P.ResultRecord):
                os.kill(daemon.pid, 9)  # SIGKILL: no chance to finish the batch or record anything more
                break
    daemon.proc.wait(10)
    start_daemon()
    with Client() as c:
        assert c.jobs()[0].state == "interrupted"
        assert c.review_list(query="status:committed").total < 120
        outcome = commit(c)
        assert {r.action for r in outcome.values()} <= {"written", "unchanged"}
        committed = c.review_list(query="status:committed", limit=200)
        assert committed.total == 120 and all(d.backup is not None for d in committed.drafts)
    for path in (paths[0], paths[-1]):
        subjects = as_list(exif_one(Path(path))["XMP-dc:Subject"])
        assert sorted(subjects) == ["beach", "holiday", "sea"]
