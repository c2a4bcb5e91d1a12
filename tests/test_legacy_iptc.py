"""A photo tagged by an older tool: IPTC keywords in Latin-1, with no CodedCharacterSet saying so. pyexiv2's public
readers raise on such bytes; every place that asks "already tagged?" or "which keywords?" goes through the metadata
package's reader, so the photo is seen as tagged, with its keywords, by `scan` and by `tag --skip-tagged`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from imageworks.cli import main
from imageworks.client import Client
from imageworks.scan import ScanCache
from imageworks.scan.keywords import read_file_keywords
from tests.test_metadata_support import exiftool_write, needs_exiftool

pytestmark = needs_exiftool

LEGACY_KEYWORDS = ["Müller", "Straße", "Köln"]


def legacy_library(root: Path) -> Path:
    """``root`` with ``legacy.jpg`` (Latin-1 IPTC keywords, no charset) and two photos without any text."""
    root.mkdir(parents=True)
    for name, colour in (("legacy.jpg", "red"), ("plain.jpg", "blue"), ("other.png", "green")):
        Image.new("RGB", (32, 24), colour).save(root / name)
    legacy = root / "legacy.jpg"
    exiftool_write(legacy, "-charset", "iptc=Latin1", *(f"-IPTC:Keywords={k}" for k in LEGACY_KEYWORDS))
    data = legacy.read_bytes()
    assert "Müller".encode("latin-1") in data and "Müller".encode() not in data  # bytes > 0x7f, not UTF-8
    assert b"\x1b%G" not in data  # no CodedCharacterSet declaring UTF-8
    return legacy


def test_the_metadata_reader_and_the_scan_probe_see_its_keywords(tmp_path: Path) -> None:
    legacy = legacy_library(tmp_path / "lib")
    assert read_file_keywords(str(legacy)) == (LEGACY_KEYWORDS, [])
    with ScanCache() as cache:
        cache.scan(tmp_path / "lib")
        probe = cache.ensure_metadata_flags(tmp_path / "lib")
        assert probe.errors == ()
        assert {e.relpath: e.has_metadata for e in probe.entries} == {
            "legacy.jpg": True,
            "plain.jpg": False,
            "other.png": False,
        }


def test_scan_lists_it_as_tagged_without_a_probe_error(tmp_path: Path) -> None:
    legacy_library(tmp_path / "lib")
    result = CliRunner().invoke(main, ["scan", str(tmp_path / "lib"), "--tagged", "--list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["metadata_probe"]["errors"] == []
    assert [Path(p).name for p in data["paths"]] == ["legacy.jpg"]
    untagged = CliRunner().invoke(main, ["scan", str(tmp_path / "lib"), "--untagged", "--list", "--json"])
    assert sorted(Path(p).name for p in json.loads(untagged.stdout)["paths"]) == ["other.png", "plain.jpg"]


def test_tag_skip_tagged_leaves_it_out_and_untouched(start_daemon, tmp_path: Path) -> None:
    legacy = legacy_library(tmp_path / "lib")
    before = legacy.read_bytes()
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", "tag", str(tmp_path / "lib"), "--skip-tagged", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "probe" not in proc.stderr and "cannot read" not in proc.stderr
    final = json.loads(proc.stdout.strip().splitlines()[-1])["job"]
    assert final["total"] == 2
    with Client("t") as c:
        paths = {r.item["path"] for r in c.all_results(final["job_id"])}
    assert paths == {str(tmp_path / "lib" / "plain.jpg"), str(tmp_path / "lib" / "other.png")}
    assert legacy.read_bytes() == before
