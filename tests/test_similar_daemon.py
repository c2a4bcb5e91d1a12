"""Similarity is daemon work (real daemon, real photos): a ``similar`` job hashes in the pool what the cache lacks and
searches; a second client asking for the same folder meanwhile gets the same job, and later the cached result with
nothing hashed; its progress reaches every client; ``similar.groups`` re-groups from the stored neighbours at once;
the marks are the daemon's; a ``move`` job moves photos with their sidecars and takes their drafts (history kept)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks import config
from imageworks import protocol as P
from imageworks.client import Client
from imageworks.errors import DaemonError
from imageworks.jobs.records import MoveRecord, SimilarOutcome
from imageworks.review import edits as E
from imageworks.similarity.jobs import similar_params
from imageworks.similarity.marks import MarkStore
from tests.job_support import follow_to_end
from tests.test_review_daemon import seed_drafts
from tests.test_similarity import PHOTOS, near_copies

pytest.importorskip("skimage.data")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS:
        near_copies(name, folder)
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def params(root: Path, **fields: object) -> dict:
    return similar_params(str(root), settings=config.SimilarityConfig(), **fields)  # type: ignore[arg-type]


def test_two_clients_share_one_job_and_a_later_one_hashes_nothing(start_daemon, library: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("a") as a, Client("b") as b, Client("watcher") as watcher:
        events = watcher.events()  # the daemon topic: what every client sees
        first = a.submit("similar", [], params(library))
        second = b.submit("similar", [], params(library))
        assert first.created and not second.created and second.job.job_id == first.job.job_id
        final, results = follow_to_end(a, first.job.job_id)
        assert final.state == "done" and final.total == 21 and len(results) == 21  # every image once, one job
        outcome = final.outcome
        assert isinstance(outcome, SimilarOutcome) and outcome.searched and outcome.images == 20
        assert outcome.skipped == 1 and outcome.hashed == 0
        seen = []
        for event in events:
            seen.append(event)
            if isinstance(event, P.JobStateEvent) and event.job.state == "done":
                break
        events.close()
        assert any(isinstance(e, P.JobStateEvent) and e.job.total == 21 for e in seen)  # the items, told to all

        later = b.submit("similar", [], params(library))
        again, none = follow_to_end(b, later.job.job_id)
        assert later.created and again.state == "done" and again.total == 0 and none == []  # nothing hashed
        assert again.outcome is not None and again.outcome.searched is False  # the stored search of the same files

        reply = b.similar_groups(again.job_id, 0.82)
        assert len(reply.groups) == len(PHOTOS) and reply.images == 20 and reply.floor == 0.82
        assert [s.problem for s in reply.skipped] == ["empty file"]
        tight = b.similar_groups(again.job_id, 0.99)  # from the stored neighbours (bench/similar_daemon.py times it)
        assert all(len(g.paths) < 4 for g in tight.groups)
        with pytest.raises(DaemonError, match=r"below the 0\.82"):
            b.similar_groups(again.job_id, 0.7)


def test_progress_events_reach_a_client_that_only_watches(start_daemon, library: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with Client("a") as a, Client("watcher") as watcher:
        job = a.submit("similar", [], params(library)).job
        seen = [e for e in watcher.follow(job.job_id, progress=True)]
    progress = [e for e in seen if isinstance(e, P.JobProgressEvent)]
    assert progress and {e.job.job_id for e in progress} == {job.job_id}
    assert any(e.message == "searching neighbours" for e in progress) or progress[-1].job.done == 21


def test_marks_are_the_daemons_and_come_with_the_groups(start_daemon, library: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("a") as c:
        final, _ = follow_to_end(c, c.submit("similar", [], params(library)).job.job_id)
        crop, small = str(library / "rocket_crop.png"), str(library / "rocket_small.jpg")
        assert {(m.path, m.mark) for m in c.similar_mark([crop, small], "reject").marks} == {
            (crop, "reject"),
            (small, "reject"),
        }
        assert c.similar_mark([small], None).marks == []
        with pytest.raises(DaemonError, match="unknown mark"):
            c.similar_mark([small], "maybe")
        reply = c.similar_groups(final.job_id, 0.82)
        assert [(m.path, m.mark) for m in reply.marks] == [(crop, "reject")]
        assert (reply.reference, reply.reference_rule) == ("largest", "largest, then sharpest")
        sharpest = c.similar_groups(final.job_id, 0.82, "sharpest")
        assert (sharpest.reference, sharpest.reference_rule) == ("sharpest", "sharpest, then largest")
        assert sorted(map(sorted, (g.paths for g in sharpest.groups))) == sorted(
            map(sorted, (g.paths for g in reply.groups))
        )
        with pytest.raises(
            DaemonError, match="unknown reference rule 'newest' \\(one of largest, sharpest, earliest\\)"
        ):
            c.similar_groups(final.job_id, 0.82, "newest")


def test_a_move_job_takes_sidecars_drafts_and_marks_along_and_never_replaces(start_daemon, tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "lib-rejects"
    lib.mkdir()
    paths = [str(p) for p in near_copies("rocket", lib)]
    (lib / "rocket_small.jpg.xmp").write_text("<x/>")
    (lib / "rocket_small.XMP").write_text("<X/>")  # every sidecar form goes along
    out.mkdir()
    (out / "rocket_small.jpg").write_bytes(b"already here")
    (out / "rocket_small-2.XMP").write_text("taken")  # a sidecar's -2 is taken: the pair takes -3 together
    seed_drafts(paths[:2])
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("a") as c:
        small = paths[1]
        before = c.review_get(small)
        c.review_edit(E.SetCaption(path=small, caption="the small one"), before.version)
        c.similar_mark([small], "reject")
        job = c.submit("move", [{"path": small}, {"path": str(lib / "gone.jpg")}], {"folder": str(out)}).job
        final, results = follow_to_end(c, job.job_id)
        assert final.done == 1 and final.failed == 1
        moved = next(r.record for r in results if r.status == "ok")
        assert isinstance(moved, MoveRecord) and moved.to == str(out / "rocket_small-3.jpg")
        assert [(Path(f.src).name, Path(f.dst).name) for f in moved.sidecars] == [
            ("rocket_small.jpg.xmp", "rocket_small-3.jpg.xmp"),
            ("rocket_small.XMP", "rocket_small-3.XMP"),
        ]
        assert (out / "rocket_small-3.jpg.xmp").read_text() == "<x/>" and (out / "rocket_small-3.XMP").exists()
        assert (out / "rocket_small-2.XMP").read_text() == "taken" and not (out / "rocket_small-2.jpg").exists()
        assert (out / "rocket_small.jpg").read_bytes() == b"already here" and not Path(small).exists()
        draft = c.review_get(moved.to)
        assert draft.edited.caption == "the small one" and draft.last_change == f"moved from {small}"
        with pytest.raises(DaemonError):
            c.review_get(small)
        assert c.review_undo().drafts[0].path == moved.to  # the caption edit undoes on the moved draft
        assert c.review_get(moved.to).edited.caption != "the small one"
        with MarkStore() as marks:  # the mark followed the photo
            assert marks.marks_of([small, moved.to]) == {moved.to: "reject"}
        with pytest.raises(DaemonError, match="absolute"):
            c.submit("move", [{"path": small}], {"folder": "relative"})
