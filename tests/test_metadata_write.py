"""The metadata writer on real files: every field each photo tool reads, in every format, read back by exiftool;
the image data and every unrelated tag untouched; modes; RAW sidecars; provenance."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from tests.test_metadata_support import (
    UNICODE_CAPTION,
    XP_COMMENT_TAG,
    XP_KEYWORDS_TAG,
    XP_SUBJECT_TAG,
    XP_TITLE_TAG,
    as_list,
    exif_one,
    exiftool_write,
    jpeg_scan,
    lightroom_style,
    make_image,
    make_jpeg,
    make_png_with_itxt,
    make_tiff16,
    needs_exiftool,
    pixels,
    sha256,
    xp_text,
)

pytestmark = needs_exiftool

OPTS = MetadataConfig()
PROV = md.Provenance(model="Qwen2.5-VL-7B-AWQ", profile="three-step", profile_version="3")
KEYWORDS = ["beach", "places|sea", "日本", "ü-umlaut", "🌊 wave"]
DESCRIPTION = "Two people walk along the shore at dusk.\nSecond line: Grüße aus 東京 🌅."


def write(path: Path, mode: md.Mode = "overwrite", options: MetadataConfig = OPTS, **kw: object) -> md.Plan:
    proposed = md.Proposed(
        caption=kw.get("caption", UNICODE_CAPTION),  # type: ignore[arg-type]
        description=kw.get("description", DESCRIPTION),  # type: ignore[arg-type]
        keywords=kw.get("keywords", KEYWORDS),  # type: ignore[arg-type]
        provenance=kw.get("provenance", PROV),  # type: ignore[arg-type]
    )
    plan = md.plan(path, proposed, mode, options=options)
    md.apply(plan, job_id=str(kw.get("job_id", "job-1")))
    return plan


@pytest.mark.parametrize("fmt", ["jpeg", "tiff", "png", "webp"])
def test_every_field_lands_where_each_tool_reads_it(tmp_path: Path, fmt: str) -> None:
    path = make_image(tmp_path / f"photo.{fmt}", fmt)
    before = pixels(path)
    plan = write(path)
    got = exif_one(path)

    assert got["XMP-dc:Title"] == UNICODE_CAPTION
    assert got["XMP-dc:Description"] == DESCRIPTION
    assert as_list(got["XMP-dc:Subject"]) == ["beach", "places", "sea", "日本", "ü-umlaut", "🌊 wave"]
    assert as_list(got["XMP-lr:HierarchicalSubject"]) == ["beach", "places|sea", "日本", "ü-umlaut", "🌊 wave"]
    assert got["IFD0:ImageDescription"] == DESCRIPTION
    assert got["IFD0:XPKeywords"].startswith("beach;places;sea;日本;ü-umlaut;")
    # exiftool prints astral characters in XP* as '?': Pillow reads the raw UTF-16 bytes instead
    assert xp_text(path, XP_TITLE_TAG) == UNICODE_CAPTION
    assert xp_text(path, XP_SUBJECT_TAG) == UNICODE_CAPTION
    assert xp_text(path, XP_COMMENT_TAG) == DESCRIPTION
    assert xp_text(path, XP_KEYWORDS_TAG) == "beach;places;sea;日本;ü-umlaut;🌊 wave"
    assert got["XMP-imageworks:Model"] == PROV.model
    assert got["XMP-imageworks:Profile"] == "three-step"
    assert str(got["XMP-imageworks:ProfileVersion"]) == "3"
    if fmt == "webp":  # exiv2 cannot put IPTC in WebP: reported, not silently dropped
        assert not any(k.startswith("IPTC:") for k in got)
        assert any("IPTC" in note for note in plan.skipped)
    else:
        assert got["IPTC:CodedCharacterSet"] == "UTF8"
        assert got["IPTC:Caption-Abstract"] == DESCRIPTION
        assert as_list(got["IPTC:Keywords"]) == ["beach", "places", "sea", "日本", "ü-umlaut", "🌊 wave"]
        assert not plan.skipped
    assert pixels(path) == before
    # keywords are an rdf:Bag (Lightroom and the XMP spec), not the rdf:Seq pyexiv2 writes for lists
    verbose = subprocess.run(["exiftool", "-v3", str(path)], capture_output=True, text=True).stdout
    assert "dc:subject/rdf:Bag" in verbose and "lr:hierarchicalSubject/rdf:Bag" in verbose
    # and our own reader agrees
    seen = md.read(path, options=OPTS)
    assert seen.caption == UNICODE_CAPTION and seen.provenance is not None
    assert seen.provenance.model == PROV.model


def test_lightroom_style_file_keeps_every_other_tag_and_the_scan_data(tmp_path: Path) -> None:
    path = lightroom_style(make_jpeg(tmp_path / "IMG_0001.jpg"))
    before = exif_one(path)
    scan = jpeg_scan(path)
    px = pixels(path)
    write(path, mode="overwrite")
    after = exif_one(path)

    ours = {
        "XMP-dc:Title",
        "XMP-dc:Description",
        "XMP-dc:Subject",
        "XMP-lr:HierarchicalSubject",
        "IPTC:Caption-Abstract",
        "IPTC:Keywords",
        "IFD0:ImageDescription",
        "IFD0:XPTitle",
        "IFD0:XPSubject",
        "IFD0:XPComment",
        "IFD0:XPKeywords",
    }
    expected_to_move = {
        "System:FileSize",
        "System:FileInodeChangeDate",
        "System:FileAccessDate",
        "File:CurrentIPTCDigest",
        "Photoshop:IPTCDigest",  # refreshed, see below
        "XMP-x:XMPToolkit",
        "IPTC:ApplicationRecordVersion",  # exiv2 adds the record version IPTC requires
    }
    untouched = {k: v for k, v in before.items() if k not in ours | expected_to_move}
    assert {k: after.get(k) for k in untouched} == untouched
    assert after["IFD0:Orientation"] == "Rotate 90 CW"
    assert as_list(after["XMP-dc:Creator"]) == ["Jane Doe"] and after["IPTC:By-line"] == "Jane Doe"
    assert after["XMP-photoshop:City"] == "Zürich" and after["IPTC:City"] == "Zürich"
    new_keys = set(after) - set(before) - ours - expected_to_move
    assert all(k.startswith("XMP-imageworks:") for k in new_keys), new_keys
    # Photoshop's IPTC digest matches the new IPTC (else Lightroom copies IPTC over XMP), so exiftool has no warning
    assert after["Photoshop:IPTCDigest"] == after["File:CurrentIPTCDigest"]
    assert "ExifTool:Warning" not in after
    assert jpeg_scan(path) == scan
    assert pixels(path) == px


def test_merge_keeps_the_persons_keywords_and_text_in_their_order(tmp_path: Path) -> None:
    path = lightroom_style(make_jpeg(tmp_path / "lr.jpg"))
    exiftool_write(path, "-XMP-dc:Title=My title", "-XMP-dc:Description=My words")
    plan = write(path, mode="merge", keywords=["holiday", "beach", "people|anna", "sunset"])
    got = exif_one(path)
    assert as_list(got["XMP-dc:Subject"]) == ["Anna", "Holiday", "beach", "people", "sunset"]
    # "people|anna" is the person's "People|Anna" (case-insensitive): not added twice
    assert as_list(got["XMP-lr:HierarchicalSubject"]) == ["People|Anna", "Holiday", "beach", "sunset"]
    assert as_list(got["IPTC:Keywords"]) == ["Anna", "Holiday", "beach", "people", "sunset"]
    assert got["XMP-dc:Title"] == "My title" and got["XMP-dc:Description"] == "My words"
    assert "IPTC:Caption-Abstract" not in got  # the person has a description: merge writes ours nowhere
    fields = {c.field for c in plan.changes}
    assert "XMP-dc:Title" not in fields and "XMP-dc:Description" not in fields
    assert any("+ beach" in line for line in plan.describe())
    # a second merge of the same keywords has nothing to do and leaves the file alone
    digest = sha256(path)
    again = md.plan(path, md.Proposed(keywords=["beach", "sunset"]), "merge", options=OPTS)
    assert not again.has_changes and "nothing to change" in again.reason
    md.apply(again)
    assert sha256(path) == digest


def test_skip_leaves_a_tagged_file_byte_identical_and_tags_an_untagged_one(tmp_path: Path) -> None:
    tagged = lightroom_style(make_jpeg(tmp_path / "tagged.jpg"))
    digest = sha256(tagged)
    plan = md.plan(tagged, md.Proposed(keywords=["x"], caption="c"), "skip", options=OPTS)
    assert not plan.has_changes and plan.reason == "skip: already has keywords"
    md.apply(plan)
    assert sha256(tagged) == digest

    fresh = make_jpeg(tmp_path / "fresh.jpg")
    assert not md.has_tags(fresh)
    write(fresh, mode="skip")
    assert md.has_tags(fresh)
    # tagged by ImageWorks: skip says so (the "skip what ImageWorks already tagged" case)
    again = md.plan(fresh, md.Proposed(keywords=["x"]), "skip", options=OPTS)
    assert "by ImageWorks, model Qwen2.5-VL-7B-AWQ" in again.reason


def test_overwrite_replaces_only_our_fields_and_can_clear_them(tmp_path: Path) -> None:
    path = lightroom_style(make_jpeg(tmp_path / "o.jpg"))
    exiftool_write(path, "-XMP-dc:Title=Alt title", "-XMP-dc:Title-de=Deutscher Titel")
    write(path, mode="overwrite", caption="New", keywords=["one", "two"], description="")
    got = exif_one(path)
    assert got["XMP-dc:Title"] == "New"
    assert got["XMP-dc:Title-de"] == "Deutscher Titel"  # the person's translation stays
    assert as_list(got["XMP-dc:Subject"]) == ["one", "two"]
    assert as_list(got["XMP-lr:HierarchicalSubject"]) == ["one", "two"]
    assert "XMP-dc:Description" not in got and "IPTC:Caption-Abstract" not in got
    assert as_list(got["XMP-dc:Creator"]) == ["Jane Doe"] and got["IFD0:Artist"] == "Jane Doe"


@pytest.mark.parametrize(
    ("maker", "expected"),
    [
        pytest.param(
            lambda p: make_jpeg(p, mode="CMYK"),
            {"File:ColorComponents": 4, "Adobe:ColorTransform": "Unknown (RGB or CMYK)"},
            id="cmyk-jpeg",
        ),
        pytest.param(
            lambda p: make_jpeg(p, progressive=True),
            {"File:EncodingProcess": "Progressive DCT, Huffman coding"},
            id="progressive-jpeg",
        ),
    ],
)
def test_cmyk_and_progressive_jpeg_scan_data_unchanged(tmp_path: Path, maker, expected: dict[str, object]) -> None:
    path = maker(tmp_path / "p.jpg")
    assert {k: exif_one(path).get(k) for k in expected} == expected
    scan, px = jpeg_scan(path), pixels(path)
    write(path)
    after = exif_one(path)
    assert jpeg_scan(path) == scan and pixels(path) == px
    assert {k: after.get(k) for k in expected} == expected  # the Adobe APP14 marker (CMYK) is still there
    assert as_list(after["IPTC:Keywords"])[0] == "beach"


def test_16_bit_tiff_pixels_unchanged(tmp_path: Path) -> None:
    path = make_tiff16(tmp_path / "deep.tif")
    before = pixels(path)
    assert before[0] == "I;16"
    write(path)
    assert pixels(path) == before
    got = exif_one(path)
    assert got["IFD0:BitsPerSample"] == 16 and as_list(got["IPTC:Keywords"])[0] == "beach"


def test_png_keeps_its_existing_itxt_and_text_chunks(tmp_path: Path) -> None:
    path = make_png_with_itxt(tmp_path / "t.png")
    before = exif_one(path)
    px = pixels(path)
    write(path)
    after = exif_one(path)
    assert after["PNG:Comment-fr"] == before["PNG:Comment-fr"] == "Pêcheurs — 日本 🎣"
    assert after["PNG:Software"] == "Pillow test"
    assert after["XMP-dc:Title"] == UNICODE_CAPTION
    assert pixels(path) == px


def test_unicode_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "Ferien 2024 – 日本"
    folder.mkdir()
    path = make_jpeg(folder / "Strand ü 🌊.jpg")
    write(path)
    assert exif_one(path)["XMP-dc:Title"] == UNICODE_CAPTION
    assert md.restore(path)[0].action == "restored"


def test_very_long_text_is_cut_at_character_boundaries_and_reported(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "long.jpg")
    description = ("Grüße 日本 🌊 " * 700).strip()  # ~ 14 KB of UTF-8
    long_keyword = "ü" * 40  # 80 bytes: over IPTC's 64
    plan = write(path, description=description, keywords=[long_keyword, "short"])
    got = exif_one(path)
    iptc = got["IPTC:Caption-Abstract"]
    assert len(iptc.encode()) <= 2000 and description.startswith(iptc)
    assert len(got["XMP-dc:Description"].encode()) <= 8000 and description.startswith(got["XMP-dc:Description"])
    assert as_list(got["IPTC:Keywords"]) == ["ü" * 32, "short"]
    assert as_list(got["XMP-dc:Subject"]) == [long_keyword, "short"]  # XMP has no such limit
    notes = "\n".join(plan.truncated)
    assert "IPTC:Caption-Abstract: cut from" in notes and "IPTC:Keywords" in notes and "XMP-dc:Description" in notes
    assert any(line.startswith("  truncated: ") for line in plan.describe())


def test_raw_file_gets_a_sidecar_and_is_never_modified(tmp_path: Path) -> None:
    raw = make_image(tmp_path / "IMG_0042.CR2", "tiff")  # CR2 is TIFF inside; the extension decides
    exiftool_write(raw, "-XMP-dc:Subject=from camera")
    digest = sha256(raw)
    plan = write(raw, mode="merge", keywords=["bird"])
    sidecar = tmp_path / "IMG_0042.xmp"  # Lightroom's name
    assert plan.sidecar and Path(plan.target) == sidecar
    assert sha256(raw) == digest
    got = exif_one(sidecar)
    # the RAW's own keyword counts as the person's: kept, first
    assert as_list(got["XMP-dc:Subject"]) == ["from camera", "bird"]
    assert got["XMP-dc:Title"] == UNICODE_CAPTION
    assert any("sidecar" not in s and "IPTC" in s for s in plan.skipped)
    seen = md.read(raw, options=OPTS)
    assert seen.sidecar and seen.keywords == ["from camera", "bird"]
    assert seen.fields["XMP-dc:Subject"] == ["from camera", "bird"]
    # restoring a sidecar ImageWorks created removes it
    assert [r.action for r in md.restore(raw)] == ["removed"]
    assert not sidecar.exists() and sha256(raw) == digest


def test_existing_lightroom_sidecar_is_updated_keeping_its_other_properties(tmp_path: Path) -> None:
    raw = tmp_path / "DSC_1.NEF"
    raw.write_bytes(b"not really a NEF, and never read as one")
    sidecar = tmp_path / "DSC_1.xmp"
    subprocess.run(
        ["exiftool", "-q", "-o", str(sidecar), "-XMP-crs:Exposure2012=+0.35", "-XMP-xmp:Rating=5",
         "-XMP-dc:Subject=Lisbon", "-XMP-lr:HierarchicalSubject=Places|Lisbon"],
        check=True,
    )  # fmt: skip
    before = exif_one(sidecar)
    write(raw, mode="merge", keywords=["tram"])
    after = exif_one(sidecar)
    assert as_list(after["XMP-dc:Subject"]) == ["Lisbon", "tram"]
    assert as_list(after["XMP-lr:HierarchicalSubject"]) == ["Places|Lisbon", "tram"]
    assert after["XMP-crs:Exposure2012"] == before["XMP-crs:Exposure2012"]
    assert after["XMP-xmp:Rating"] == 5
    assert raw.read_bytes() == b"not really a NEF, and never read as one"


def test_sidecar_for_all_mode_leaves_the_jpeg_alone(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "IMG_7.JPG")
    digest = sha256(path)
    write(path, options=MetadataConfig(sidecar_for_all=True))
    assert sha256(path) == digest
    sidecar = tmp_path / "IMG_7.JPG.xmp"  # not IMG_7.xmp, which belongs to IMG_7.CR2 when both exist
    assert exif_one(sidecar)["XMP-dc:Title"] == UNICODE_CAPTION


def test_digikam_tags_list_is_kept_in_step(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "dk.jpg")
    exiftool_write(path, "-XMP-digiKam:TagsList=People/Anna", "-XMP-dc:Subject=Anna")
    write(path, mode="merge", keywords=["places|beach"])
    got = exif_one(path)
    assert as_list(got["XMP-digiKam:TagsList"]) == ["People/Anna", "places/beach"]
    assert as_list(got["XMP-dc:Subject"]) == ["Anna", "places", "beach"]


def test_latin1_iptc_is_read_and_left_alone(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "old.jpg")
    exiftool_write(path, "-charset", "iptc=Latin1", "-IPTC:Keywords=Müller", "-IPTC:City=Köln")
    seen = md.read(path, options=OPTS)
    assert seen.keywords == ["Müller"]
    plan = write(path, mode="merge", keywords=["dom"])
    assert any("not UTF-8" in s for s in plan.skipped)
    got = exif_one(path, "-charset", "iptc=Latin1")
    assert got["IPTC:City"] == "Köln" and as_list(got["IPTC:Keywords"]) == ["Müller"]
    assert as_list(got["XMP-dc:Subject"]) == ["Müller", "dom"]


def test_symlink_is_written_through_not_replaced(tmp_path: Path) -> None:
    real = make_jpeg(tmp_path / "real.jpg")
    link = tmp_path / "link.jpg"
    link.symlink_to(real)
    write(link)
    assert link.is_symlink() and exif_one(real)["XMP-dc:Title"] == UNICODE_CAPTION


def test_show_json_and_write_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from imageworks.cli import main

    path = lightroom_style(make_jpeg(tmp_path / "cli.jpg"))
    runner = CliRunner()
    result = runner.invoke(main, ["metadata", "write", str(path), "--keywords", "sea,places|coast", "--mode", "merge"])
    assert result.exit_code == 0, result.output
    assert (
        "XMP-dc:Subject: + sea, + places, + coast" in result.output
        and "imageworks metadata restore --job" in result.output
    )
    result = runner.invoke(main, ["metadata", "show", str(path), "--json"])
    assert result.exit_code == 0, result.output
    import json

    shown = json.loads(result.output)
    assert shown["keywords"] == ["Anna", "Holiday", "sea", "places", "coast"]
    assert shown["hierarchical"] == ["People|Anna", "Holiday", "sea", "places|coast"]
    assert shown["fields"]["IPTC:CodedCharacterSet"] == "UTF8"
    result = runner.invoke(main, ["metadata", "show", str(path)])
    assert "keywords:     Anna, Holiday, sea, places, coast" in result.output


def test_cli_mode_default_comes_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from imageworks.cli import main

    path = lightroom_style(make_jpeg(tmp_path / "cfg.jpg"))
    runner = CliRunner()
    monkeypatch.setenv("IMAGEWORKS_METADATA_MODE", "skip")
    result = runner.invoke(main, ["metadata", "write", str(path), "--keywords", "new"])
    assert "skip: already has keywords" in result.output
    # an explicit edit dropped: not 0, but 3 as `tag --write` and `review commit` end when a value is kept out
    assert result.exit_code == 3 and "not written: keywords" in result.output and "1 skipped" in result.output
    monkeypatch.delenv("IMAGEWORKS_METADATA_MODE")
    result = runner.invoke(main, ["metadata", "write", str(path), "--keywords", "new"])
    assert result.exit_code == 0 and "+ new" in result.output  # default mode: merge
    assert as_list(exif_one(path)["XMP-dc:Subject"]) == ["Anna", "Holiday", "new"]


def test_unsupported_format_is_refused_unless_sidecar_mode(tmp_path: Path) -> None:
    gif = tmp_path / "anim.gif"
    from PIL import Image

    Image.new("P", (4, 4)).save(gif)
    with pytest.raises(md.MetadataError, match="only go to a sidecar") as err:
        md.plan(gif, md.Proposed(keywords=["x"]), "merge", options=OPTS)
    assert err.value.code == "unsupported"
    write(gif, options=MetadataConfig(sidecar_for_all=True))
    sidecar = tmp_path / "anim.gif.xmp"
    assert exif_one(sidecar)["XMP-dc:Title"] == UNICODE_CAPTION
    with pytest.raises(md.MetadataError, match="is a sidecar; give the photo"):
        md.plan(sidecar, md.Proposed(keywords=["x"]), "merge", options=MetadataConfig(sidecar_for_all=True))
