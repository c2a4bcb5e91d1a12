"""The ``mono`` job kind in a real daemon (real pool processes, real JPEG/PNG files): typed records, the cache the
daemon writes (a second job reads every photo back), overlays in the cache dir and never beside the photos, no VLM
loaded, a killed daemon's job resumed to the end, narration through the model's batching queue (echo backend), and
verdicts written with their backups (exiftool reads them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from imageworks.client import Client
from imageworks.jobs.records import MonoRecord, MonoWriteRecord, NarrateRecord
from imageworks.mono.cache import MonoCache
from tests import mono_images as M
from tests.job_support import follow_to_end, killed_then_resumed
from tests.typed_records import records_of

POOL = "2"


def make_entries(folder: Path) -> dict[str, str]:
    """Four competition entries: neutral, sepia, a red spot top right, a blue spot bottom left in sepia."""
    folder.mkdir(parents=True, exist_ok=True)
    grey = M.scene(900, 600)
    made = {
        "neutral": M.neutral(grey),
        "sepia": M.toned(grey),
        "red-spot": M.spot(M.neutral(grey), 0.004, M.RED, centre=(0.8, 0.2)),
        "blue-spot": M.spot(M.toned(grey), 0.004, M.BLUE, centre=(0.2, 0.8)),
    }
    return {name: str(M.save(rgb, folder / f"{name}.jpg")) for name, rgb in made.items()}


def test_a_mono_job_checks_in_the_pool_and_the_daemon_caches_it(start_daemon, tmp_path: Path) -> None:
    photos = make_entries(tmp_path / "entries")
    missing = str(tmp_path / "entries" / "gone.jpg")
    before = sorted(os.listdir(tmp_path / "entries"))
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        items = [{"path": p} for p in [*photos.values(), missing]]
        job = c.submit("mono", items, {"rules": "psa"}).job
        assert job.kind == "mono" and job.total == 5
        final, results = follow_to_end(c, job.job_id)
        assert final.state == "done" and final.done == 4 and final.failed == 1
        records = {r.path: r for r in records_of(results, MonoRecord)}
        verdicts = {name: records[path].verdict for name, path in photos.items()}
        assert verdicts == {
            "neutral": "neutral_mono",
            "sepia": "toned_mono",
            "red-spot": "not_mono",
            "blue-spot": "not_mono",
        }
        spot = records[photos["red-spot"]]
        assert (spot.regions[0].colour, spot.regions[0].location) == ("red", "top right")
        assert spot.rules == "psa" and not spot.cached and len(spot.overlays.regions) == 1
        error = records[missing].error or ""
        assert "no such file" in error or "cannot read" in error
        assert c.status().model.state in ("none", "unloaded")  # the check never loads the VLM

        again = c.submit("mono", [{"path": p} for p in photos.values()], {"rules": "psa"}).job
        _, repeat = follow_to_end(c, again.job_id)
        repeated = records_of(repeat, MonoRecord)
        assert all(r.cached for r in repeated)
        assert {r.path: r.verdict for r in repeated} == {p: records[p].verdict for p in photos.values()}

    cache_dir = Path(os.environ["XDG_CACHE_HOME"]) / "imageworks"
    for record in records.values():
        for picture in [record.overlays.chroma, record.overlays.residual, *record.overlays.regions]:
            if picture:
                assert Path(picture).is_file() and Path(picture).is_relative_to(cache_dir)
    assert sorted(os.listdir(tmp_path / "entries")) == before  # nothing written beside the photos
    with MonoCache() as cache:
        st = os.stat(photos["sepia"])
        stored = cache.get(photos["sepia"], st.st_size, st.st_mtime_ns, "psa")
    assert stored is not None and stored.analysis is not None and stored.analysis.verdict == "toned_mono"


def make_slow_entries(folder: Path, n: int) -> list[str]:
    """PNGs (no reduced decode) of 3000×2000: each check takes a noticeable fraction of a second."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = M.neutral(M.scene(3000, 2000))
    paths = []
    for i in range(n):
        rgb = np.clip(base + rng.normal(0, 0.01, (*base.shape[:2], 1)).astype(np.float32), 0, 1)
        paths.append(str(M.save(rgb, folder / f"slow{i:02d}.png", compress_level=1)))
    return paths


def test_a_killed_daemon_leaves_the_mono_job_resumable(start_daemon, tmp_path: Path) -> None:
    slow = make_slow_entries(tmp_path / "slow", 12)
    results = killed_then_resumed(start_daemon, "mono", slow, POOL, "two photos checked")
    assert {r.verdict for r in records_of(results, MonoRecord)} == {"neutral_mono"}


def test_narration_goes_through_the_model_queue_and_verdicts_are_written(start_daemon, tmp_path: Path) -> None:
    """The echo backend answers with the prompt, which names a yellow box: for a red region that contradicts the
    measurement (dropped and counted), while the sentence keeps the measured colour, strength and location."""
    import subprocess

    photos = make_entries(tmp_path / "entries")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    with Client() as c:
        _, checked = follow_to_end(c, c.submit("mono", [{"path": p} for p in photos.values()]).job.job_id)
        records = {r.path: r for r in records_of(checked, MonoRecord)}
        failing = [r for r in records.values() if r.verdict in ("not_mono", "query")]
        assert len(records) == 4 and len(failing) == 2, [(r.path, r.verdict, r.error) for r in records.values()]
        items = [
            {
                "path": r.path,
                "size": r.fingerprint.size,
                "mtime_ns": r.fingerprint.mtime_ns,
                "verdict": r.verdict,
                "regions": [msgspec_builtins(x) for x in r.regions],
                "pictures": r.overlays.regions,
            }
            for r in failing
        ]
        final, narrated = follow_to_end(c, c.submit("narrate", items).job.job_id)
        assert final.state == "done" and final.done == 2
        by_path = {r.path: r for r in records_of(narrated, NarrateRecord)}
        red = by_path[photos["red-spot"]]
        assert red.contradictions >= 1 and "yellow" in red.regions[0].dropped
        assert red.regions[0].sentence.startswith("a strong red on the ")
        assert red.regions[0].sentence.endswith("(top right, " + f"{red.regions[0].area_pct:g} % of the frame)")
        assert by_path[photos["blue-spot"]].regions[0].colour == "blue"

        writes = [
            {
                "path": r.path,
                "size": r.fingerprint.size,
                "mtime_ns": r.fingerprint.mtime_ns,
                "verdict": r.verdict,
                "narration": by_path[r.path].text if r.path in by_path else "",
            }
            for r in records.values()
        ]
        final, written = follow_to_end(c, c.submit("mono-write", writes, {"field": "description"}).job.job_id)
        assert final.state == "done"
        assert all(r.write is not None and r.write.written for r in records_of(written, MonoWriteRecord))

    def exif(path: str, tag: str) -> str:
        out = subprocess.run(["exiftool", "-s3", "-sep", ", ", f"-{tag}", path], capture_output=True, text=True)
        return out.stdout.strip()

    assert exif(photos["neutral"], "XMP-dc:Subject") == "mono:neutral"
    assert exif(photos["sepia"], "IPTC:Keywords") == "mono:toned"
    assert exif(photos["red-spot"], "XMP-dc:Subject") == "mono:not-mono"
    assert exif(photos["red-spot"], "XMP-dc:Description").startswith("Colour: a strong red on the ")
    assert exif(photos["neutral"], "XMP-dc:Description") == ""  # nothing to narrate, nothing written there


def msgspec_builtins(value: object) -> object:
    import msgspec

    return msgspec.to_builtins(value)
