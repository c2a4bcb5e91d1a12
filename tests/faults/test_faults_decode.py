"""Image bombs: a 23000x23000 PNG (1-bit, a few kB) and a 20000x20000 JPEG among good images fail alone, within
seconds, with a message naming the pixel cap, and the worker's memory stays bounded. Nothing lost, nothing
duplicated."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from PIL import Image

from imageworks import protocol as P
from imageworks.client import Client
from tests.test_vlm import write_huge_png

WORKER_PEAK_LIMIT = 400 * 2**20
"""Decoding the PNG bomb alone would take 529 MB (1 byte a pixel) before any conversion."""


def jpeg_claiming(path: Path, width: int, height: int) -> None:
    """A small JPEG whose header claims ``width`` x ``height`` (the frame's SOF0 size fields rewritten)."""
    Image.new("RGB", (16, 16), "red").save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    path.write_bytes(bytes(data))


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_image_bombs_fail_alone_within_seconds_and_the_worker_stays_small(start_daemon, tmp_path: Path) -> None:
    png, jpg = tmp_path / "bomb.png", tmp_path / "bomb.jpg"
    write_huge_png(png, 23000, 23000)
    jpeg_claiming(jpg, 20000, 20000)
    good = [tmp_path / f"good{i}.png" for i in range(3)]
    for i, path in enumerate(good):
        Image.new("RGB", (64, 48), (40 * i, 90, 200)).save(path)
    paths = [good[0], png, good[1], jpg, good[2]]
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        started = time.monotonic()
        job = c.submit("echo", [{"text": "x", "image": str(p)} for p in paths], batch_size=2).job
        states = [e.state for e in c.follow(job.job_id) if isinstance(e, P.JobInfo)]
        took = time.monotonic() - started
        results = sorted(c.all_results(job.job_id), key=lambda r: r.index)
        worker = c.status().model.worker_pid
    assert states[-1] == "done" and took < 10, (states, took)
    assert [r.index for r in results] == list(range(len(paths)))  # each item once
    for result, path in zip(results, paths, strict=True):
        if path in good:
            assert result.status == "ok" and "64x48" in result.record.output
        else:
            assert result.status == "error" and "model.max_image_pixels" in str(result.record.error), result
            assert str(path) in str(result.record.error)
    assert worker and peak_rss(worker) < WORKER_PEAK_LIMIT
