"""Snapshot tests (pytest-textual-snapshot): each mode at 80x24 and 120x40, with fixed content.

Nothing time-, pid- or tmp-path-dependent is painted: the daemon's status, the jobs and the results are injected
as fixed values (the app is told not to connect), and the library root is a relative path. Update with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from imageworks import config as iw_config
from imageworks import protocol as P
from imageworks.jobs.records import TagRecord
from imageworks.metadata import Existing
from imageworks.review.drafts import Draft, DraftKeyword, FileFingerprint, Origin, Status, Values

SIZES = [(80, 24), (120, 40)]
JOB_IDS = ["20250101-120000-1a2b3c4d", "20250102-083000-5e6f7a8b", "20250103-191500-9c0d1e2f"]


def fixed_status() -> P.StatusReply:
    return P.StatusReply(
        boot_id="boot",
        pid=4242,
        version="0.1.0",
        uptime=75.0,
        model=P.ModelState(name="demo", state="loaded", loaded=True, demo=True),
        counters=P.Counters(model_loads=1, inferences=60, jobs=3, clients=2, requests=120),
        queue_depth=0,
    )


def fixed_job(i: int, state: str, done: int, total: int = 20) -> P.JobInfo:
    created = 1735732800.0 + i * 3600
    return P.JobInfo(
        job_id=JOB_IDS[i],
        kind="tag",
        state=state,
        model="demo",
        total=total,
        done=done,
        failed=0,
        seq=done + 2,
        created=created,
        updated=created + 30,
        started=created + 1,
        finished=created + 30 if state == "done" else None,
    )


def fixed_results(job_id: str, n: int) -> list[P.ResultRecord]:
    words = ["red door", "harbour", "cat", "mountain lake", "bicycle", "market"]
    out = []
    for i in range(n):
        ok = i % 7 != 3
        record: dict[str, Any] = {
            "status": "ok" if ok else "error",
            "error": None if ok else "cannot read image: truncated file",
            "path": f"photos/img{i:03d}.jpg",
            "caption": f"A {words[i % len(words)]} in the afternoon." if ok else "",
            "keywords": [{"keyword": w, "score": 0.9} for w in words[: i % 4 + 1]] if ok else [],
            "description": "A quiet scene." if ok else "",
        }
        typed = msgspec.convert(record, TagRecord)
        out.append(P.ResultRecord(job_id=job_id, index=i, seq=i + 1, status=record["status"], record=typed,
                                  item={"path": record["path"]}))  # fmt: skip
    return out


def fixed_drafts(n: int) -> list[Draft]:
    """Review drafts in every status, with keywords in every state (mapped, new, rejected)."""
    words = ["red door", "harbour", "cat", "mountain lake", "bicycle", "market"]
    statuses: list[Status] = ["pending", "approved", "rejected", "pending", "committed", "stale", "pending", "approved"]
    out = []
    for i in range(n):
        keywords = (
            DraftKeyword(keyword=words[i % 6], state="accepted" if i % 2 else "suggested"),
            DraftKeyword(keyword="dog", source="mapped", mapped_from="puppy"),
            DraftKeyword(keyword="afternoon", new=True),
            DraftKeyword(keyword="blurry", state="rejected"),
        )
        values = Values(caption=f"A {words[i % 6]} in the afternoon.", description="A quiet scene.", keywords=keywords)
        out.append(
            Draft(
                path=f"photos/img{i:03d}.jpg",
                origin=Origin(job_id=JOB_IDS[0], item=i, model="demo"),
                generated=values,
                edited=values,
                fingerprint=FileFingerprint(size=1000, mtime_ns=1),
                status=statuses[i % len(statuses)],
                stale_reason="its size changed (1000 → 1200 bytes)" if statuses[i % len(statuses)] == "stale" else "",
                version=2,
                seq=i + 1,
            )
        )
    return out


def fixed_existing(path: str) -> Existing:
    return Existing(
        path=path, target=path, format="jpeg", sidecar=False, caption="Old title", keywords=["cat", "summer"]
    )


def make_snapshot_app():
    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.widgets import preview

    preview.prepare("halfcell")
    cfg = iw_config.replace(iw_config.Config(), "tui", library_root="photos")
    app = ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=None, connect=False)
    # the daemon here is a fixed picture: nothing may ask a real one (an error toast would make the shot flaky)
    for name in ("list_jobs", "refresh_status", "read_status", "list_models"):
        setattr(app.services, name, lambda *a, **k: None)
    review = app.services.review

    def open_fixed(root: str, filter: str = "") -> None:
        review.book.reset(root, filter)
        review.opened = True
        review.book.add_page(fixed_drafts(12), total=12, seq=12, last=True)

    vars(review)["open"] = open_fixed  # the instance's own open(), over the class's: the shot's drafts are fixed
    review.existing.update((d.path, fixed_existing(d.path)) for d in fixed_drafts(12))
    return app


async def fill(pilot) -> None:
    """The fixed state every mode shows: daemon up with the demo model, three jobs, one running with results."""
    from imageworks.tui.services import Services
    from imageworks.tui.state import DaemonView, FilterCounts, JobView, ScanView

    app = pilot.app
    while not app.first_screen_ready:  # the form is built after the first frame, and asks for its counts then
        await pilot.pause()
    await app.workers.wait_for_complete()  # the first mode's own count query lands first, then the fixed state
    await pilot.pause()
    app.post_message(Services.DaemonChanged(DaemonView("up", "", fixed_status())))
    app.scan_view = ScanView("done", "photos", "20 images from the cache")
    app.counts = FilterCounts("photos", True, 24, 20, 0)
    jobs = [fixed_job(0, "done", 20), fixed_job(1, "interrupted", 7), fixed_job(2, "running", 8)]
    app.post_message(Services.JobsListed(jobs))
    app.post_message(Services.ResultsArrived(JOB_IDS[2], fixed_results(JOB_IDS[2], 8)))
    view = JobView(jobs[2], rate=1.5, eta=8.0, current="photos/img007.jpg", following=True)
    app.post_message(Services.JobChanged(view))
    app.services.current_job = view
    await pilot.pause()


def before(mode: str, *keys: str):
    async def run_before(pilot) -> None:
        await fill(pilot)
        if mode != "configure":
            await pilot.press({"execute": "2", "review": "3", "jobs": "4", "daemon": "5"}[mode])
        for key in keys:
            await pilot.press(key)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path)  # "photos" is a real folder (no inline error), shown as typed
    return tmp_path


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", ["configure", "execute", "review", "jobs", "daemon"])
def test_mode_snapshot(mode, size, in_tmp, snap_compare):
    assert snap_compare(make_snapshot_app(), terminal_size=size, run_before=before(mode))


def test_help_snapshot(in_tmp, snap_compare):
    assert snap_compare(make_snapshot_app(), terminal_size=(80, 24), run_before=before("execute", "question_mark"))
