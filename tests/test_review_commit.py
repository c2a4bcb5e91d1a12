"""Planning a commit on real files: the field diff of the person's values, staleness, a rerun after a write."""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec
import pytest
from PIL import Image

from imageworks import metadata as md
from imageworks.metadata import fields as F
from imageworks.review import edits as E
from imageworks.review.commit import PIXELS_CHANGED, field_changes, plan_commit, proposed_values, staleness
from imageworks.review.drafts import Draft, FileFingerprint
from imageworks.review.edits import apply_edit, merge_generated
from imageworks.review.fingerprint import HASHED_BYTES, file_fingerprint, generation_fingerprint
from imageworks.review.vocabulary import Vocabulary
from tests.test_metadata_support import exiftool_write, make_image, needs_exiftool
from tests.test_review_support import generated


def photo(path: Path) -> Path:
    Image.new("RGB", (64, 48), (20, 120, 200)).save(path, "JPEG", quality=85)
    return path


def approved_draft(path: Path) -> Draft:
    draft = merge_generated(None, generated(str(path), ["dog", "people"], fingerprint=file_fingerprint(path)), 1.0)
    for edit in (
        E.SetCaption(path=str(path), caption="Rex on the beach"),
        E.RejectKeyword(path=str(path), keyword="people"),
        E.AddKeyword(path=str(path), keyword="holiday"),
        E.Approve(path=str(path)),
    ):
        draft = apply_edit(draft, edit)
    return draft


def test_the_fingerprint_hash_sees_a_rewrite_that_kept_size_and_mtime(tmp_path: Path) -> None:
    big = tmp_path / "big.raw"
    big.write_bytes(os.urandom(3 * HASHED_BYTES))
    before = file_fingerprint(big)
    st = big.stat()
    with big.open("r+b") as fh:
        fh.seek(-10, os.SEEK_END)
        fh.write(b"0123456789")
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns))
    start = time.perf_counter()
    after = file_fingerprint(big)
    print(f"\nfingerprint of a {3 * HASHED_BYTES >> 20} MiB file: {(time.perf_counter() - start) * 1000:.2f} ms")
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns) and after.pixels != before.pixels
    assert staleness(before, after) == PIXELS_CHANGED  # a RAW file stands for its pixels: ImageWorks never writes it


def test_a_generation_fingerprint_is_hashed_only_while_the_file_is_the_one_tagged(tmp_path: Path) -> None:
    path = photo(tmp_path / "a.jpg")
    now = file_fingerprint(path)
    assert generation_fingerprint(path, now.size, now.mtime_ns) == now and now.pixels
    changed = generation_fingerprint(path, now.size + 1, now.mtime_ns)
    assert changed == FileFingerprint(size=now.size + 1, mtime_ns=now.mtime_ns)
    assert staleness(changed, now) is not None
    assert generation_fingerprint(tmp_path / "gone.jpg", 1, 2).pixels == ""


def test_staleness_is_about_the_pixels() -> None:
    seen = FileFingerprint(size=10, mtime_ns=5, pixels="aa")
    assert staleness(seen, FileFingerprint(size=99, mtime_ns=7, pixels="aa")) is None  # metadata changed: fine
    assert staleness(seen, FileFingerprint(size=10, mtime_ns=5, pixels="bb")) == PIXELS_CHANGED
    assert staleness(seen, None) == "the file is gone"


def test_a_draft_from_before_pixel_hashes_is_judged_by_the_whole_file() -> None:
    seen = FileFingerprint(size=10, mtime_ns=5, head_tail="aa")
    assert staleness(seen, seen) is None
    assert staleness(seen, None) == "the file is gone"
    assert staleness(seen, msgspec.structs.replace(seen, size=11)) == "its size changed (10 → 11 bytes)"
    assert staleness(seen, msgspec.structs.replace(seen, mtime_ns=6)) == "it was modified (new mtime)"
    assert staleness(msgspec.structs.replace(seen, head_tail=""), msgspec.structs.replace(seen, head_tail="bb")) is None


def test_what_is_written_is_exactly_the_persons_values(tmp_path: Path) -> None:
    draft = approved_draft(photo(tmp_path / "a.jpg"))
    proposed = proposed_values(draft)
    assert (proposed.caption, proposed.keywords) == ("Rex on the beach", ["dog", "holiday"])
    assert proposed.provenance is not None and proposed.provenance.model == "demo"
    changes = {c.field: c.new for c in field_changes(draft, {}, "merge")}
    assert changes[F.XMP_TITLE] == "Rex on the beach" and changes[F.XMP_SUBJECT] == ["dog", "holiday"]
    kept = {c.field: c.new for c in field_changes(draft, {F.XMP_TITLE: "Their title", F.XMP_SUBJECT: ["x"]}, "merge")}
    assert F.XMP_TITLE not in kept and kept[F.XMP_SUBJECT] == ["x", "dog", "holiday"]
    overwrite = {c.field: c.new for c in field_changes(draft, {F.XMP_TITLE: "Their title"}, "overwrite")}
    assert overwrite[F.XMP_TITLE] == "Rex on the beach"


def test_a_commit_plan_then_a_rerun_after_the_write_changes_nothing(tmp_path: Path) -> None:
    path = photo(tmp_path / "a.jpg")
    draft = approved_draft(path)
    plan = plan_commit(draft)
    assert plan.action == "write" and plan.plan is not None and plan.version == draft.version
    assert any("Rex on the beach" in line for line in plan.describe())
    md.apply(plan.plan, job_id="commit-1")
    again = plan_commit(draft)  # the file changed (our write), but it already holds the person's values
    assert again.action == "unchanged" and again.fingerprint == file_fingerprint(path)
    assert md.read(path).keywords == ["dog", "holiday"]


def test_skip_mode_skips_a_file_tagged_by_someone_else_but_not_a_rerun(tmp_path: Path) -> None:
    theirs, ours = photo(tmp_path / "theirs.jpg"), photo(tmp_path / "ours.jpg")
    plan = md.plan(theirs, md.Proposed(keywords=["their own"]), "overwrite")
    md.apply(plan)
    skipped = plan_commit(approved_draft(theirs), "skip")
    assert skipped.action == "skipped" and skipped.reason.startswith("skip: already has keywords")
    draft = approved_draft(ours)
    first = plan_commit(draft, "skip")
    assert first.action == "write" and first.plan is not None
    md.apply(first.plan)
    assert plan_commit(draft, "skip").action == "unchanged"


def test_a_photo_edited_since_preview_is_stale_and_not_planned(tmp_path: Path) -> None:
    path = photo(tmp_path / "a.jpg")
    draft = approved_draft(path)
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path, "JPEG", quality=60)
    plan = plan_commit(draft)
    assert (plan.action, plan.plan, plan.reason) == ("stale", None, PIXELS_CHANGED)
    assert plan.describe() == [f"{path}: stale: {plan.reason}"]
    path.unlink()
    gone = plan_commit(draft)
    assert (gone.action, gone.reason) == ("stale", "the file is gone")


def test_only_approved_drafts_are_planned(tmp_path: Path) -> None:
    draft = merge_generated(None, generated(str(photo(tmp_path / "a.jpg"))), 1.0)
    assert plan_commit(draft).action == "not_approved"


@pytest.mark.parametrize("mode", ["merge", "overwrite"])
def test_a_hierarchical_keyword_is_written_to_both_fields(tmp_path: Path, mode: md.Mode) -> None:
    path = photo(tmp_path / "a.jpg")
    draft = approved_draft(path)
    vocabulary = Vocabulary.build(hierarchical={"Animals|Dog": 3})
    plan = plan_commit(draft, mode, vocabulary=vocabulary)
    assert plan.plan is not None
    md.apply(plan.plan)
    existing = md.read(path)
    # the path goes to lr:hierarchicalSubject; dc:subject gets its levels (the writer's Lightroom-style export)
    assert existing.hierarchical == ["Animals|Dog", "holiday"]
    assert existing.keywords == ["Animals", "Dog", "holiday"]


@needs_exiftool
@pytest.mark.parametrize("fmt", ["jpeg", "png", "tiff", "webp"])
def test_a_metadata_change_by_another_program_keeps_the_pixel_fingerprint(tmp_path: Path, fmt: str) -> None:
    path = make_image(tmp_path / f"a.{fmt}", fmt)
    before = file_fingerprint(path)
    exiftool_write(path, "-XMP-xmp:Rating=3", "-XMP-dc:Subject+=Animals")  # Lightroom's and digiKam's daily work
    after = file_fingerprint(path)
    assert after.size != before.size and after.pixels == before.pixels and staleness(before, after) is None
    Image.open(path).rotate(90).save(path, format=fmt.upper())  # the photo itself edited
    assert staleness(before, file_fingerprint(path)) == PIXELS_CHANGED


def test_a_pixel_hash_reads_a_few_mib_of_a_large_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.effect_noise((3000, 2000), 64).convert("RGB").save(path, quality=95)
    start = time.perf_counter()
    fingerprint = file_fingerprint(path)
    print(
        f"\npixel fingerprint of a {path.stat().st_size >> 20} MiB JPEG: {(time.perf_counter() - start) * 1000:.1f} ms"
    )
    assert fingerprint.pixels and path.stat().st_size > 2 * HASHED_BYTES
