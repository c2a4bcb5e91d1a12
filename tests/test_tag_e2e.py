"""End to end: `imageworks tag` through a real daemon and the real transformers path, on the trained tiny model
(real model output, not canned strings), with metadata read back by exiftool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from imageworks import protocol as P
from imageworks.client import Client
from tests.waiting import cpu_seconds, wait_for, wait_model_loaded

pytestmark = pytest.mark.slow

SHAPES = [
    ("red", "circle", "white"),
    ("blue", "square", "yellow"),
    ("green", "triangle", "black"),
    ("yellow", "circle", "blue"),
]


def make_shapes(folder: Path, n: int = 4) -> dict[Path, str]:
    from imageworks.daemon.demo_model.train import draw

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(n):
        colour, shape, bg = SHAPES[i % len(SHAPES)]
        path = folder / f"{i:03d}_{colour}_{shape}.jpg"
        draw(colour, shape, bg, size=(112, 112)).save(path, quality=95)
        out[path] = colour
    return out


def iw(*args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def exif_subjects(path: Path) -> list[str]:
    out = subprocess.run(["exiftool", "-j", "-G1", "-XMP-dc:Subject", str(path)], capture_output=True, text=True)
    data = json.loads(out.stdout)[0]
    value = data.get("XMP-dc:Subject", [])
    return value if isinstance(value, list) else [value]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool (libimage-exiftool-perl) not installed")
def test_tag_folder_names_colours_and_writes_metadata(start_daemon, trained_model_dir, tmp_path):
    images = make_shapes(tmp_path / "pics")
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    out = tmp_path / "out.jsonl"
    proc = iw("tag", str(tmp_path / "pics"), "--write", "overwrite", "--jsonl", str(out), "--json")
    final = json.loads(proc.stdout.strip().splitlines()[-1])["job"]
    assert final["state"] == "done" and final["done"] == 4
    rows = {Path(r["image"]): r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == set(images)
    named = 0
    for path, colour in images.items():
        row = rows[path]
        keywords = [k["keyword"] for k in row["keywords"]]
        assert row["caption"] and row["description"] and keywords
        if colour in row["caption"].lower() and colour in keywords:
            named += 1
        # what was written is what the model said, read back by an independent reader
        assert exif_subjects(path) == keywords
    assert named >= 3, rows  # the tiny model is small: most, not necessarily all, colours right


def test_skip_tagged_skips_files_with_keywords(start_daemon, trained_model_dir, tmp_path):
    from imageworks import metadata as md

    images = list(make_shapes(tmp_path / "pics"))
    md.apply(md.plan(str(images[0]), md.Proposed(keywords=["mine"]), "overwrite"))
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    proc = iw("tag", str(tmp_path / "pics"), "--skip-tagged", "--json")
    final = json.loads(proc.stdout.strip().splitlines()[-1])["job"]
    assert final["total"] == 3
    with Client("t") as c:
        paths = {r.item["path"] for r in c.all_results(final["job_id"])}
    assert str(images[0]) not in paths and len(paths) == 3
    assert md.read(str(images[0])).keywords == ["mine"]  # never touched


def test_client_killed_then_daemon_killed_then_resume_exports_each_image_once(
    start_daemon, trained_model_dir, tmp_path
):
    images = make_shapes(tmp_path / "pics", n=24)
    first = start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    tagger = subprocess.Popen(
        [sys.executable, "-m", "imageworks", "tag", str(tmp_path / "pics"), "--batch-size", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    with Client("t") as c:
        job_id = wait_for(
            lambda: next((j.job_id for j in c.jobs() if j.kind == "tag"), None),
            what="the tagger's job",
            progress=lambda: cpu_seconds(tagger.pid),
        )
        worker = wait_model_loaded(c).worker_pid  # the job loads the model: item waits start once it is in memory

        def done() -> int:
            return c.attach(job_id).job.done

        def working() -> tuple[int, float]:
            return done(), cpu_seconds(worker)  # items finishing, or the worker computing the next batch

        wait_for(lambda: done() >= 2, what="two items", interval=0.1, progress=working)
        tagger.send_signal(signal.SIGKILL)  # the client dies; the job goes on
        tagger.wait(5)
        before = done()
        wait_for(lambda: done() > before, what="an item after the client died", interval=0.1, progress=working)
    first.proc.send_signal(signal.SIGKILL)  # then the daemon dies mid-job
    first.proc.wait(5)
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    with Client("t") as c:
        job = c.attach(job_id).job
        assert job.state == "interrupted" and 0 < job.done < 24
    iw("jobs", "resume", job_id)
    out = tmp_path / "all.jsonl"
    iw("jobs", "export", job_id, "--jsonl", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["image"]) for r in rows) == sorted(images)  # each image exactly once


def png_header_only(path: Path, width: int, height: int) -> None:
    """A valid, highly compressed 1-bit PNG of width x height, streamed (never held in memory whole)."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_bad_inputs_fail_alone_with_clear_notes(start_daemon, trained_model_dir, tmp_path):
    folder = tmp_path / "pics"
    good = make_shapes(folder, n=2)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not a photo")
    full = (folder / next(iter(good)).name).read_bytes()
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 3])
    png_header_only(folder / "huge.png", 30000, 30000)
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    proc = iw("tag", str(folder), "--json", check=False)
    assert "Traceback" not in proc.stderr
    final = json.loads(proc.stdout.strip().splitlines()[-1])["job"]
    assert final["state"] == "done"
    with Client("t") as c:
        results = {Path(r.item["path"]).name: r for r in c.all_results(final["job_id"])}
    for path in good:
        assert results[path.name].status == "ok"
    for name in ("empty.jpg", "text.jpg", "huge.png", "truncated.jpg"):
        assert results[name].status == "error", name
        error = results[name].record.error
        assert "\n" not in error and len(error) < 300, error
    assert "too large" in results["huge.png"].record.error or "pixels" in results["huge.png"].record.error
    assert "truncated" in results["truncated.jpg"].record.error


def test_untrained_model_gives_parse_notes_and_a_finished_job(start_daemon, tiny_model_dir, tmp_path):
    make_shapes(tmp_path / "pics", n=3)
    start_daemon(IMAGEWORKS_MODEL_NAME=str(tiny_model_dir))
    with Client("t") as c:
        items = [
            {"path": str(p), "size": p.stat().st_size, "mtime_ns": 0} for p in sorted((tmp_path / "pics").iterdir())
        ]
        job = c.submit("tag", items, {"profile": "single-pass", "max_keywords": 5}).job
        final = [e for e in c.follow(job.job_id) if isinstance(e, P.JobInfo)][-1]
        assert final.state == "done"
        results = c.all_results(job.job_id)
    assert len(results) == 3
    for r in results:
        assert r.record.notes, r.record  # garbage output is noted, never an empty success
        if r.status == "ok":
            assert r.record.caption or r.record.keywords or r.record.description


def test_daemon_process_tree_has_no_torch_in_server(start_daemon, tiny_model_dir):
    d = start_daemon(IMAGEWORKS_MODEL_NAME=str(tiny_model_dir))
    with Client("t") as c:
        c.load_model(wait=True)
        worker = c.status().model.worker_pid
    maps_server = Path(f"/proc/{d.pid}/maps").read_text()
    maps_worker = Path(f"/proc/{worker}/maps").read_text()
    assert "libtorch" not in maps_server  # the model lives in the worker only
    assert "libtorch" in maps_worker
    assert os.path.exists(f"/proc/{worker}")
