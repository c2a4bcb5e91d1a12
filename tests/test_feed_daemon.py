"""Feeding the model through a real daemon and the trained demo model: each photo is decoded once per job whatever
the profile (counted by the worker), nothing is kept once the job's items finished, `daemon status` shows the share
of time the model waited for its inputs; and DNGs show the model their picture, not IFD0's thumbnail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imageworks import protocol as P
from imageworks.client import Client
from imageworks.jobs.records import TagRecord
from tests.raw_files import write_dng
from tests.test_tag_e2e import make_shapes
from tests.waiting import wait_for, wait_model_loaded

pytestmark = pytest.mark.slow


def item(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def nothing_kept(c: Client) -> P.FeedStats | None:
    """The vlm slot's feed counters once its worker keeps nothing (every item finished: its images forgotten)."""
    feed = c.status().slots["vlm"].feed
    return feed if feed is not None and feed.kept_bytes == 0 else None


def run_tag(c: Client, items: list[dict], profile: str) -> dict[str, P.ResultRecord]:
    job = c.submit("tag", items, {"profile": profile, "temperature": 0.0}).job
    records = [e for e in c.follow(job.job_id) if isinstance(e, P.ResultRecord)]
    assert c.attach(job.job_id).job.state == "done"
    assert all(isinstance(r.record, TagRecord) for r in records)
    return {r.record.path: r for r in records if isinstance(r.record, TagRecord)}


def caption_of(result: P.ResultRecord) -> str:
    """The caption of a tag job's result (run_tag checked that each record is a TagRecord)."""
    assert isinstance(result.record, TagRecord), result.record
    return result.record.caption


def test_each_photo_is_decoded_once_per_job_and_dngs_show_their_picture(start_daemon, trained_model_dir, tmp_path):
    from imageworks.daemon.demo_model.train import draw

    photos = make_shapes(tmp_path / "pics", 4)
    green_thumbnail = draw("green", "square", "black", (160, 160))
    blue = draw("blue", "square", "yellow", (448, 448))
    with_preview = write_dng(tmp_path / "pics" / "preview.dng", blue, thumbnail=green_thumbnail, preview=blue)
    red = draw("red", "circle", "white", (448, 448))
    mosaic_only = write_dng(tmp_path / "pics" / "mosaic.dng", red, thumbnail=green_thumbnail)
    assert Image.open(with_preview).size == (160, 160)  # what Pillow alone would have shown the model
    items = [item(p) for p in sorted(photos)] + [item(with_preview), item(mosaic_only)]

    # batches of 2: a job runs several windows, with photos decoded ahead of their batch and their window
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir), IMAGEWORKS_MODEL_BATCH_SIZE="2")
    with Client("t") as c:
        three_step = run_tag(c, items, "three-step")
        wait_model_loaded(c)
        feed = wait_for(lambda: nothing_kept(c), what="the worker to drop the finished items' images")
        assert feed.decodes == len(items)  # each photo once, for its three rounds
        assert feed.reused >= 2 * len(items)
        assert 0 <= feed.input_wait_share < 1 and feed.busy_s > 0

        single_pass = run_tag(c, items, "single-pass")
        feed = wait_for(lambda: nothing_kept(c), what="the worker to drop the finished items' images")
        assert feed.decodes == 2 * len(items)  # once more per photo: a new job

    for records in (three_step, single_pass):
        assert all(r.status == "ok" for r in records.values()), records
        assert "blue" in caption_of(records[str(with_preview)]).lower()  # the preview, not the green thumbnail
        assert "red" in caption_of(records[str(mosaic_only)]).lower()  # the half-size demosaic
    shown = subprocess.run(
        [sys.executable, "-m", "imageworks", "daemon", "status"], capture_output=True, text=True, timeout=60
    )
    assert "vlm: waited for inputs " in shown.stdout and f"{2 * len(items)} images decoded" in shown.stdout
