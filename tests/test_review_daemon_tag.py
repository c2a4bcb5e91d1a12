"""Drafts from a real tag run (the trained demo model, `--write none`): proposals mapped onto the library's own
keywords (read from its files into the scan cache), the rename memory, a re-tag beside the person's edits, and a
hierarchical library keyword committed into both dc:subject and lr:hierarchicalSubject."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imageworks.client import Client
from imageworks.review import edits as E
from imageworks.review.drafts import Draft
from tests.test_metadata_support import as_list, exif_one, exiftool_write, needs_exiftool
from tests.test_review_daemon import commit
from tests.test_tag_e2e import iw, make_shapes
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, needs_exiftool]


def drafts_under(c: Client, root: Path, n: int) -> dict[str, Draft]:
    page = wait_for(lambda: (p := c.review_list(str(root))).total == n and p, what=f"{n} drafts under {root}")
    return {d.path: d for d in page.drafts}


def test_tag_run_makes_mapped_drafts_remembers_renames_and_commits_hierarchy(start_daemon, trained_model_dir, tmp_path):
    lib = tmp_path / "lib"
    shapes = [str(p) for p in make_shapes(lib, 4)]
    # the photographer's own keyword, in a hierarchy, on a photo of the library
    exiftool_write(
        Path(shapes[3]), "-XMP-lr:HierarchicalSubject=Graphics|Simple Shapes", "-XMP-dc:Subject=Simple Shapes"
    )
    start_daemon(IMAGEWORKS_MODEL_NAME=str(trained_model_dir))
    iw("tag", str(lib), "--write", "none")
    with Client() as c:
        drafts = drafts_under(c, lib, 4)
        first = drafts[shapes[0]]
        assert first.status == "pending" and first.edited.caption and first.edited.keywords
        mapped = {k.mapped_from: k for d in drafts.values() for k in d.edited.keywords if k.source == "mapped"}
        assert mapped["simple shapes"].keyword == "Simple Shapes" and not mapped["simple shapes"].new
        assert all(k.new for k in first.edited.keywords if k.keyword != "Simple Shapes")

        # the person renames the library's word on two images: later proposals of it arrive renamed
        holders = (shapes[0], shapes[1])
        rename = E.RenameKeywordEverywhere(selection=E.Selection(paths=holders), old="Simple Shapes", new="shape study")
        assert len(c.review_batch(rename).drafts) == 2

        more = tmp_path / "more"
        more.mkdir()
        copy = str(more / Path(holders[0]).name)
        shutil.copy2(holders[0], copy)
        iw("tag", str(more), "--write", "none")
        again = drafts_under(c, more, 1)[copy]
        renamed = next(k for k in again.edited.keywords if k.mapped_from == "simple shapes")
        assert renamed.keyword == "shape study" and renamed.source == "mapped"

        # a re-tag of an edited draft keeps the edits and puts the new values beside them
        c.review_edit(E.SetCaption(path=copy, caption="Mine"), again.version)
        iw("tag", str(more), "--write", "none")
        retagged = wait_for(lambda: (d := c.review_get(copy)).proposal is not None and d, what="the re-tag")
        assert retagged.edited.caption == "Mine" and retagged.proposal.values.caption != "Mine"

        # approve a draft holding the library's keyword: it is written as its hierarchy path
        target = shapes[2]
        assert "Simple Shapes" in drafts[target].edited.kept_keywords
        c.review_edit(E.Approve(path=target), c.review_get(target).version)
        assert commit(c, paths=[target])[target].action == "written"
    tags = exif_one(Path(target))
    assert "Simple Shapes" in as_list(tags["XMP-dc:Subject"])
    assert "Graphics|Simple Shapes" in as_list(tags["XMP-lr:HierarchicalSubject"])
