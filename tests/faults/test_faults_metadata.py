"""Honest metadata outcomes: an explicit edit is written (or the command says it was not), restore follows content
not inodes, provenance only while the text is ours, and backups can be seen and pruned. Each test checks that no
keyword is lost or doubled and that no temp file is left."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from imageworks import metadata as md
from imageworks.cli import main
from imageworks.config import MetadataConfig
from imageworks.metadata.atomic import TEMP_PREFIX
from tests.test_metadata_support import (
    as_list,
    exif_one,
    exiftool_write,
    lightroom_style,
    make_jpeg,
    needs_exiftool,
)

pytestmark = needs_exiftool
OPTS = MetadataConfig()
TAGGER = md.Provenance(model="demo-model", profile="three-step", profile_version="1")


def iw(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def no_temps(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_write_with_explicit_keywords_defaults_to_merge(tmp_path: Path) -> None:
    path = lightroom_style(make_jpeg(tmp_path / "lr.jpg"))  # already has keywords Anna, Holiday
    result = iw("metadata", "write", str(path), "--keywords", "sea,Holiday")
    assert result.exit_code == 0, result.output
    assert as_list(exif_one(path)["XMP-dc:Subject"]) == ["Anna", "Holiday", "sea"]  # none lost, none doubled
    assert len(md.BackupStore().entries(path=path)) == 1 and no_temps(tmp_path)


def test_an_explicit_value_the_mode_keeps_out_is_not_a_success(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "c.jpg")
    exiftool_write(path, "-XMP-dc:Title=a person's caption")
    result = iw("metadata", "write", str(path), "--caption", "model caption", "--keywords", "sea")
    assert result.exit_code == 3, result.output  # as `tag --write` and `review commit` end for a value kept out
    assert "not written: caption: merge keeps the existing caption" in result.output
    assert "1 partly written" in result.output
    shown = md.read(path, options=OPTS)
    assert shown.caption == "a person's caption" and shown.keywords == ["sea"]  # the rest was written
    as_json = json.loads(iw("metadata", "write", str(path), "--caption", "again", "--json").output)
    assert as_json["files"][0]["plan"]["not_written"] and as_json["job_id"] is None
    result = iw("metadata", "write", str(path), "--caption", "model caption", "--mode", "overwrite")
    assert result.exit_code == 0 and md.read(path, options=OPTS).caption == "model caption"


def test_restoring_two_stacked_jobs_in_turn_gets_back_the_original(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "s.jpg")
    original = path.read_bytes()
    first = json.loads(iw("metadata", "write", str(path), "--keywords", "one", "--json").output)["job_id"]
    after_first = path.read_bytes()
    second = json.loads(iw("metadata", "write", str(path), "--keywords", "two", "--json").output)["job_id"]
    assert as_list(exif_one(path)["XMP-dc:Subject"]) == ["one", "two"]

    result = iw("metadata", "restore", "--job", second)
    assert result.exit_code == 0 and f"restored: {path}" in result.output
    assert path.read_bytes() == after_first  # same bytes as the first job wrote, under a new inode
    result = iw("metadata", "restore", "--job", first)
    assert result.exit_code == 0, result.output
    assert f"restored: {path}" in result.output
    assert path.read_bytes() == original and no_temps(tmp_path)
    assert md.BackupStore().entries(path=path) == []  # every write restored, none pending


def test_restore_still_refuses_a_file_edited_after_us(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "e.jpg")
    job = json.loads(iw("metadata", "write", str(path), "--keywords", "one", "--json").output)["job_id"]
    exiftool_write(path, "-XMP-dc:Subject+=mine")
    result = iw("metadata", "restore", "--job", job)
    assert result.exit_code == 1 and "changed since ImageWorks wrote it" in result.output
    assert as_list(exif_one(path)["XMP-dc:Subject"]) == ["one", "mine"]


def test_provenance_is_shown_only_while_the_text_is_ours(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "p.jpg")
    proposed = md.Proposed(caption="a red square", keywords=["red", "square"], provenance=TAGGER)
    md.apply(md.plan(path, proposed, "overwrite", options=OPTS), job_id="tag-1")
    result = iw("metadata", "show", str(path))
    assert "tagged by:    ImageWorks" in result.output and "model demo-model" in result.output

    exiftool_write(path, "-XMP-dc:Subject-=square", "-IPTC:Keywords-=square", "-XPKeywords=red")  # a person's edit
    result = iw("metadata", "show", str(path))
    assert "tagged by" not in result.output and "keywords:     red" in result.output
    assert json.loads(iw("metadata", "show", str(path), "--json").output)["provenance"] is None

    md.apply(md.plan(path, proposed, "overwrite", options=OPTS), job_id="tag-2")  # tagged again: ours again
    assert md.read(path, options=OPTS).provenance is not None
    assert md.read(path, options=OPTS).keywords == ["red", "square"]


def test_backups_are_listed_and_pruned_by_age(tmp_path: Path) -> None:
    old, recent = make_jpeg(tmp_path / "old.jpg"), make_jpeg(tmp_path / "recent.jpg", size=(80, 48))
    for path in (old, recent):
        assert iw("metadata", "write", str(path), "--keywords", "k").exit_code == 0
    listed = json.loads(iw("metadata", "backups", "--json").output)
    assert sorted(Path(b["target"]).name for b in listed["backups"]) == ["old.jpg", "recent.jpg"]
    assert listed["usage"]["entries"] == 2 and listed["usage"]["bytes"] == md.backups_total_bytes() > 0
    assert iw("metadata", "backups", "--older-than", "30d").exit_code == 2  # no dead flag: it goes with --prune

    # age one backup by 40 days, as if it had been taken then
    store = md.BackupStore()
    (entry,) = store.entries(path=old)
    forty_days_ago = time.time_ns() - 40 * 86400 * 10**9
    with sqlite3.connect(store.root / "index.sqlite3") as conn:
        conn.execute("UPDATE backups SET created_ns = ? WHERE id = ?", (forty_days_ago, entry.id))
    blob = next((store.root / "blobs").glob(f"*/{entry.blob}"))
    os.utime(blob, ns=(forty_days_ago, forty_days_ago))

    blobs_before = {p.name for p in (store.root / "blobs").glob("*/*")}
    assert len(blobs_before) == 2 and entry.blob in blobs_before
    result = iw("metadata", "backups", "--prune", "--json")
    assert result.exit_code == 0, result.output
    pruned = json.loads(result.output)
    assert pruned["pruned"]["entries"] == 1
    assert [Path(b["target"]).name for b in pruned["backups"]] == ["recent.jpg"]
    assert {p.name for p in (store.root / "blobs").glob("*/*")} == blobs_before - {entry.blob}
    with pytest.raises(md.MetadataError, match="no ImageWorks backup"):
        md.restore(old)
    assert [r.action for r in md.restore(recent)] == ["restored"]  # the recent one is untouched by the prune
    text = iw("metadata", "backups")
    assert text.exit_code == 0 and "1 backup(s)" in text.output
