"""Undoing a move of rejects (real daemon, real files): `imageworks similar undo-move` (a ``move`` job back, made by
the daemon from the journal's records of the move) puts photos, every sidecar, marks and drafts back; a photo changed
since the move, or whose old name is taken now, stays, named with one line; `--job` tries those again later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imageworks.cli import main
from imageworks.client import Client
from imageworks.errors import DaemonError
from imageworks.review import edits as E
from imageworks.similarity.marks import MarkStore
from tests.job_support import follow_to_end
from tests.test_review_daemon import seed_drafts
from tests.test_similarity import near_copies

pytest.importorskip("skimage.data")


def undo(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["similar", "undo-move", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {"output": result.output}


def test_undo_move_puts_back_photos_sidecars_marks_and_drafts_and_refuses_changed_or_taken(
    start_daemon, tmp_path: Path
) -> None:
    lib, out = tmp_path / "lib", tmp_path / "lib-rejects"
    lib.mkdir()
    _, small, q15, crop = (str(p) for p in near_copies("rocket", lib))
    (lib / "rocket_small.jpg.xmp").write_text("<x/>")
    (lib / "rocket_small.XMP").write_text("<X/>")
    seed_drafts([small])
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    with Client("a") as c:
        before = c.review_get(small)
        c.review_edit(E.SetCaption(path=small, caption="the small one"), before.version)
        c.similar_mark([small, q15], "reject")
        first = c.submit("move", [{"path": crop}], {"folder": str(out)}).job  # an earlier move
        assert follow_to_end(c, first.job_id)[0].state == "done"
        move = c.submit("move", [{"path": p} for p in (small, q15)], {"folder": str(out)}).job
        assert follow_to_end(c, move.job_id)[0].done == 2
    assert not Path(small).exists() and (out / "rocket_small.XMP").exists()
    with open(out / "rocket_q15.jpg", "ab") as changed:  # edited where it was moved: not put back
        changed.write(b"edited since")

    code, report = undo()
    assert code == 3, report  # not everything asked for happened
    assert report["undid"] == move.job_id  # the last move, not the earlier one
    assert [b["path"] for b in report["back"]] == [small]
    assert sorted(Path(p).name for p in report["back"][0]["sidecars"]) == ["rocket_small.XMP", "rocket_small.jpg.xmp"]
    assert [(r["path"], r["why"]) for r in report["refused"]] == [
        (q15, f"cannot undo the move of {q15}: {out / 'rocket_q15.jpg'} changed since the move")
    ]
    assert Path(small).exists() and (lib / "rocket_small.jpg.xmp").read_text() == "<x/>"
    assert (lib / "rocket_small.XMP").read_text() == "<X/>" and not (out / "rocket_small.jpg").exists()
    assert not Path(q15).exists() and (out / "rocket_q15.jpg").exists()
    with MarkStore() as marks:  # the mark came back with the photo; the refused photo's stayed with it
        assert marks.marks_of([small, q15, str(out / "rocket_q15.jpg")]) == {
            small: "reject",
            str(out / "rocket_q15.jpg"): "reject",
        }
    with Client("b") as c:
        draft = c.review_get(small)  # the draft came back, its history with it
        assert draft.edited.caption == "the small one" and draft.last_change.startswith("moved from")
        with pytest.raises(DaemonError):
            c.review_get(str(out / "rocket_small.jpg"))

    # the next undo is the move before; a name taken on the way back is reported, never overwritten
    Path(crop).write_bytes(b"a new file took the name")
    code, report = undo()
    assert code == 3 and report["undid"] == first.job_id and report["back"] == []
    assert report["refused"][0]["why"].endswith(f"{crop} exists (not overwritten)")
    assert Path(crop).read_bytes() == b"a new file took the name" and (out / "rocket_crop.png").exists()
    code, report = undo()
    assert code == 1 and "nothing to undo: every move has been undone" in report["output"]

    Path(crop).unlink()  # the clash dealt with, that move's remaining photo can go back
    code, report = undo("--job", first.job_id)
    assert code == 0 and [b["path"] for b in report["back"]] == [crop] and report["refused"] == []
    assert Path(crop).exists() and not (out / "rocket_crop.png").exists()
    code, report = undo("--job", first.job_id)
    assert code == 1 and "are back" in report["output"]


def test_undo_move_without_json_says_what_went_back(start_daemon, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = near_copies("camera", lib)[1]
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    with Client("a") as c:
        assert follow_to_end(c, c.submit("move", [{"path": str(photo)}], {"folder": str(tmp_path / "out")}).job.job_id)
    result = CliRunner().invoke(main, ["similar", "undo-move"])
    assert result.exit_code == 0, result.output
    assert f"back     {photo}" in result.stdout and "1 photo put back, 0 refused" in result.stdout
    assert photo.exists()
