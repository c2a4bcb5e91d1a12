"""A Latin-1 name (``caf\\xe9.jpg``) and an invalid-UTF-8 one through everything a photo goes through: scan, tag (the
echo model), similar, review (list, approve, commit: the metadata lands byte-exact in the right file, read back with
exiftool), move and undo. Inside, names are surrogate-escaped ``str``; in JSON output they are escaped, never lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imageworks.client import Client
from imageworks.jobs.records import MoveRecord
from imageworks.review import edits as E
from tests.job_support import follow_to_end

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
data = pytest.importorskip("skimage.data")

LATIN1 = b"caf\xe9.jpg"
INVALID = b"bad-\xc3\x28-\xff.jpg"  # a broken two-byte sequence and a byte UTF-8 never uses


def iw(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a person runs it (argv as bytes: nothing decodes a name on the way), its output strict UTF-8 (as
    on a UTF-8 terminal: a name printed raw would fail, not pass as bytes)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    proc = subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, timeout=180, env=env)
    assert proc.returncode in ok, proc.stderr.decode(errors="replace")
    return proc


def as_json(proc: subprocess.CompletedProcess[bytes]) -> Any:
    return json.loads(proc.stdout.decode("utf-8"))  # valid UTF-8 even with such names


def exif_title(path: str) -> str:
    out = subprocess.run(["exiftool", "-j", "-XMP-dc:Title", os.fsencode(path)], capture_output=True, check=True)
    return json.loads(out.stdout.decode("utf-8", "replace"))[0].get("Title", "")


def test_non_utf8_names_through_scan_tag_similar_review_move_and_undo(start_daemon, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    latin1, invalid = (os.fsdecode(os.fsencode(str(folder)) + b"/" + name) for name in (LATIN1, INVALID))
    img = Image.fromarray(data.astronaut()).convert("RGB").resize((256, 256))
    img.save(latin1, format="JPEG", quality=92)
    img.resize((128, 128)).save(invalid, format="JPEG", quality=85)  # a near-copy: the two group together
    Image.fromarray(data.camera()).convert("RGB").resize((256, 256)).save(folder / "plain.jpg")
    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS="2")

    scanned = as_json(iw("scan", str(folder), "--json"))
    assert scanned["files"] == 3, scanned

    iw("tag", str(folder), "--write", "none")
    listed = as_json(iw("review", "list", str(folder), "--json"))
    assert {row["path"] for row in listed} == {latin1, invalid, str(folder / "plain.jpg")}

    similar = as_json(iw("similar", str(folder), "--json"))
    groups = [sorted(g["paths"]) for g in similar["groups"]]
    assert groups == [sorted([latin1, invalid])], similar

    with Client("t") as c:  # approve both, with captions of their own
        for path, caption in ((latin1, "latin one"), (invalid, "invalid one")):
            draft = c.review_get(path)
            draft = c.review_edit(E.SetCaption(path=path, caption=caption), draft.version).drafts[0]
            c.review_edit(E.Approve(path=path), draft.version)
    committed = iw("review", "commit", str(folder))
    assert committed.stdout.decode("utf-8").strip().endswith("2 written"), committed.stdout
    assert exif_title(latin1) == "latin one" and exif_title(invalid) == "invalid one"  # each in its own file
    assert sorted(os.listdir(os.fsencode(str(folder)))) == sorted([LATIN1, INVALID, b"plain.jpg"])

    out = tmp_path / "rejects"
    with Client("t") as c:
        c.similar_mark([invalid], "reject")
        final, results = follow_to_end(c, c.submit("move", [{"path": invalid}], {"folder": str(out)}).job.job_id)
        assert final.done == 1, results
        record = results[0].record
        assert isinstance(record, MoveRecord)
        moved = record.to
        assert os.fsencode(moved) == os.fsencode(str(out)) + b"/" + INVALID
        assert c.review_get(moved).edited.caption == "invalid one"  # its draft followed it
    undone = as_json(iw("similar", "undo-move", "--json"))
    assert [b["path"] for b in undone["back"]] == [invalid] and undone["refused"] == []
    assert os.path.exists(invalid) and not os.path.exists(moved) and exif_title(invalid) == "invalid one"
    with Client("t") as c:
        assert c.review_get(invalid).edited.caption == "invalid one"
    assert "nothing to undo" in iw("similar", "undo-move", ok=(1,)).stderr.decode("utf-8")

    # what a person reads: each name whole, its undecodable bytes escaped (\xe9), on a strict UTF-8 output
    shown = iw("similar", str(folder)).stdout.decode("utf-8")
    assert "caf\\xe9.jpg" in shown and "bad-\\xc3(-\\xff.jpg" in shown
    assert "caf\\xe9.jpg" in iw("review", "list", str(folder)).stdout.decode("utf-8")
    with Client("t") as c:
        assert follow_to_end(c, c.submit("move", [{"path": latin1}], {"folder": str(out)}).job.job_id)[0].done == 1
    assert f"back     {folder}/caf\\xe9.jpg" in iw("similar", "undo-move").stdout.decode("utf-8")
    assert os.path.exists(latin1)
