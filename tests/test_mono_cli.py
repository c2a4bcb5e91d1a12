"""`imageworks mono DIR` end to end: a real daemon (started by the test, echo backend for narration), real JPEGs,
exiftool as the independent reader of what ``--write merge`` wrote; the ``--json`` shape, the exit statuses, and
nothing written unless asked."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imageworks.mono.result import REASONS, VERDICTS
from tests import mono_images as M

POOL = "2"
IMAGE_KEYS = {"path", "verdict", "reasons", "tone", "numbers", "regions", "summary", "rules", "colour_space"}
REGION_KEYS = {"reason", "level", "area_pct", "bbox", "centroid", "hue", "chroma", "lightness", "residual"}


def iw(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=timeout)


def exif(path: Path, tag: str) -> str:
    out = subprocess.run(["exiftool", "-s3", "-sep", ", ", f"-{tag}", str(path)], capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def entries(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "entries"
    folder.mkdir()
    grey = M.scene(900, 600)
    made = {
        "neutral": M.neutral(grey),
        "sepia": M.toned(grey),
        "spot": M.spot(M.neutral(grey), 0.004, M.RED, centre=(0.8, 0.2)),
    }
    return {name: M.save(rgb, folder / f"{name}.jpg") for name, rgb in made.items()}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_shape_and_nothing_written_without_asking(start_daemon, entries: dict[str, Path]) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    before = {name: digest(p) for name, p in entries.items()}
    proc = iw("mono", str(entries["neutral"].parent), "--json", "--rules", "psa")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["jobs"]["mono"]["state"] == "done" and set(data["jobs"]) == {"mono"}
    images = {Path(i["path"]).stem: i for i in data["images"]}
    assert set(images) == {"neutral", "sepia", "spot"}
    for image in images.values():
        assert IMAGE_KEYS <= set(image) and image["verdict"] in VERDICTS and image["rules"] == "psa"
        assert set(image["reasons"]) <= set(REASONS) and isinstance(image["numbers"]["chroma_p99"], float)
    assert images["sepia"]["tone"]["name"] == "sepia" and isinstance(images["sepia"]["tone"]["hue"], float)
    assert images["spot"]["verdict"] == "not_mono" and images["spot"]["reasons"] == ["spot_colour"]
    (region,) = images["spot"]["regions"]
    assert REGION_KEYS <= set(region) and region["location"] == "top right" and region["colour"] == "red"
    assert images["spot"]["summary"].startswith("not monochrome: spot colour")
    assert data["outcomes"]["verdicts"] == {"neutral_mono": 1, "toned_mono": 1, "query": 0, "not_mono": 1}
    assert {name: digest(p) for name, p in entries.items()} == before  # checking writes nothing


def test_an_unreadable_entry_is_named_and_exits_3(start_daemon, entries: dict[str, Path]) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    broken = entries["neutral"].parent / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    proc = iw("mono", str(broken.parent))
    assert proc.returncode == 3, proc.stderr
    assert f"failed: {broken}: " in proc.stdout and "cannot read it as an image" in proc.stdout
    assert "not mono  " in proc.stdout and "neutral 1, toned 1, query 0, not mono 1, unreadable 1" in proc.stdout


def test_narration_field_needs_narrate_and_write(start_daemon, entries: dict[str, Path]) -> None:
    proc = iw("mono", str(entries["neutral"].parent), "--narration-field", "description")
    assert proc.returncode == 2 and "--narration-field needs --narrate and --write merge" in proc.stderr


def test_write_merge_puts_verdicts_in_the_files_and_replaces_its_own_old_verdict(
    start_daemon, entries: dict[str, Path]
) -> None:
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS=POOL)
    folder = entries["neutral"].parent
    subprocess.run(["exiftool", "-overwrite_original", "-XMP-dc:Subject=family", str(entries["neutral"])], check=True)
    proc = iw("mono", str(folder), "--write", "merge", "--narrate", "--narration-field", "description")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a strong red on the " in proc.stdout and "(top right, " in proc.stdout
    assert exif(entries["neutral"], "XMP-dc:Subject") == "family, mono:neutral"  # the person's keyword is kept
    assert exif(entries["sepia"], "XMP-dc:Subject") == "mono:toned"
    assert exif(entries["spot"], "IPTC:Keywords") == "mono:not-mono"
    assert exif(entries["spot"], "XMP-dc:Description").startswith("Colour: a strong red on the ")
    assert exif(entries["neutral"], "XMP-dc:Description") == ""
    listed = iw("metadata", "backups", "--json")
    assert listed.returncode == 0 and str(entries["spot"]) in listed.stdout  # a backup was taken before each write

    # the neutral entry gets a spot: checked again (a new fingerprint), its verdict keyword is replaced
    rgb = M.spot(M.neutral(M.scene(900, 600)), 0.004, M.GREEN, centre=(0.2, 0.8))
    spotted = M.save(rgb, folder / "spotted.jpg")
    subprocess.run(["exiftool", "-overwrite_original", "-XMP-dc:Subject=mono:neutral", str(spotted)], check=True)
    proc = iw("mono", str(folder), "--write", "merge", "--refresh")  # the listing is cached for a while
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert exif(spotted, "XMP-dc:Subject") == "mono:not-mono"
    assert exif(entries["neutral"], "XMP-dc:Subject") == "family, mono:neutral"  # same verdict: left as it was
    assert "unchanged 3" in proc.stdout


def test_a_file_changed_between_check_and_write_is_not_written(entries: dict[str, Path]) -> None:
    """The write refuses a file whose pixels may have changed since its verdict (named, nothing written)."""
    import os

    from imageworks.jobs.records import MonoWriteRecord
    from imageworks.mono.job import WriteItem, WriteParams, write_verdict

    path = entries["spot"]
    st = os.stat(path)
    item = WriteItem(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns, verdict="not_mono")
    M.save(np.clip(M.neutral(M.scene(900, 600)), 0, 1), path)  # someone re-exports the entry
    before = digest(path)
    record = MonoWriteRecord(status="ok", path=str(path), verdict="not_mono", keyword="mono:not-mono")
    out = write_verdict(item, WriteParams(), record, "job", None)
    assert out.write is not None and not out.write.written and "changed on disk since it was checked" in out.write.error
    assert digest(path) == before
