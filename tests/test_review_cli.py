"""`imageworks review list | export | import | commit` against a real daemon, as a script would use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from imageworks.client import Client
from imageworks.review import edits as E
from tests.test_metadata_support import as_list, exif_one, needs_exiftool
from tests.test_review_daemon import make_photos, seed_drafts, sha


def library_with_drafts(tmp_path: Path, count: int, start_daemon) -> tuple[Path, list[str]]:
    """``count`` photos under tmp_path/lib with drafts (keywords beach, sea), then a daemon started over them."""
    lib = tmp_path / "lib"
    paths = make_photos(lib, count)
    seed_drafts(paths, ("beach", "sea"))
    start_daemon()
    return lib, paths


def iw(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imageworks", *args], capture_output=True, text=True, timeout=120)


@needs_exiftool
def test_export_edit_elsewhere_import_and_commit(start_daemon, tmp_path):
    lib, paths = library_with_drafts(tmp_path, 4, start_daemon)

    listed = iw("review", "list", str(lib), "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(d["path"], d["status"]) for d in json.loads(listed.stdout)] == [(p, "pending") for p in paths]
    assert iw("review", "list", str(lib), "--status", "approved").stdout.startswith("no drafts with status approved")

    out = tmp_path / "drafts.jsonl"
    assert iw("review", "export", "--jsonl", str(out), str(lib)).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {
        "path": paths[0],
        "version": 1,
        "library": str(lib),
        "status": "pending",
        "generated": {"caption": "caption 0", "keywords": ["beach", "sea"], "description": "Waves roll onto the sand."},
        "edited": {"caption": "caption 0", "keywords": ["beach", "sea"], "description": "Waves roll onto the sand."},
    }
    # a script edits the export: a new caption and keywords, approve one, reject one, and some bad lines
    rows[0]["edited"] = {"caption": "Anna at the beach", "keywords": ["beach", "Anna"]}
    rows[0]["status"] = "approved"
    rows[1]["status"] = "rejected"
    bad = [
        "{not json",
        json.dumps({**rows[2], "status": "lovely"}),
        json.dumps({**rows[2], "edited": {"keywords": "beach, sea"}}),
        json.dumps({**rows[2], "path": str(tmp_path / "elsewhere.jpg")}),
        json.dumps({**rows[2], "status": "committed"}),
    ]
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join([json.dumps(rows[0]), json.dumps(rows[1]), *bad, json.dumps(rows[3])]) + "\n")
    imported = iw("review", "import", str(edited))  # any bad line: nothing applied, every bad line named
    assert imported.returncode == 1
    errors = [line for line in imported.stderr.splitlines() if line.startswith(f"{edited}:")]
    assert [e.split(":")[1] for e in errors] == ["3", "4", "5", "6", "7"]
    assert "not JSON" in errors[0] and "unknown status 'lovely'" in errors[1]
    assert '"edited.keywords" must be a list' in errors[2] and "no draft" in errors[3]
    assert "cannot be set by import" in errors[4]
    assert "imported nothing: 5 bad lines" in imported.stderr
    untouched = {d["path"]: d for d in json.loads(iw("review", "list", str(lib), "--json").stdout)}
    assert {d["status"] for d in untouched.values()} == {"pending"}
    partial = iw("review", "import", str(edited), "--partial")  # the good lines, as one undo step
    assert partial.returncode == 1 and "imported 2 drafts (1 unchanged, 5 bad lines)" in partial.stderr
    after = {d["path"]: d for d in json.loads(iw("review", "list", str(lib), "--json").stdout)}
    assert after[paths[0]]["status"] == "approved" and after[paths[0]]["edited"]["keywords"] == ["beach", "Anna"]
    assert after[paths[0]]["edited"]["caption"] == "Anna at the beach"
    assert after[paths[1]]["status"] == "rejected"
    assert after[paths[2]] == {**{k: v for k, v in rows[2].items() if k != "library"}, "stale_reason": ""}  # unchanged

    before = {p: sha(p) for p in paths}
    dry = iw("review", "commit", "--approved-only", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["counts"] == {"would_write": 1} and report["files"][0]["path"] == paths[0]
    assert any("Anna at the beach" in line for line in report["files"][0]["changes"])
    assert {p: sha(p) for p in paths} == before

    done = iw("review", "commit")  # the default writes the approved drafts only
    assert done.returncode == 0, done.stderr
    assert "1 written" in done.stdout
    tags = exif_one(Path(paths[0]))
    assert tags["XMP-dc:Title"] == "Anna at the beach"
    assert sorted(as_list(tags["XMP-dc:Subject"])) == ["Anna", "beach"]
    assert [sha(p) for p in paths[1:]] == [before[p] for p in paths[1:]]  # rejected and pending: untouched

    rest = json.loads(iw("review", "commit", str(lib), "--include-pending", "--json").stdout)  # pending too
    assert rest["counts"] == {"written": 2} and {f["path"] for f in rest["files"]} == {paths[2], paths[3]}
    assert sha(paths[1]) == before[paths[1]]  # the rejected one, never
    statuses = {d["path"]: d["status"] for d in json.loads(iw("review", "list", "--json").stdout)}
    assert statuses == {paths[0]: "committed", paths[1]: "rejected", paths[2]: "committed", paths[3]: "committed"}
    assert iw("review", "commit").stdout.startswith("nothing to commit")


def test_an_empty_commit_queues_no_job_and_says_why(start_daemon, tmp_path):
    lib, paths = library_with_drafts(tmp_path, 3, start_daemon)
    with Client("test") as c:
        c.review_edit(E.Reject(path=paths[2]), c.review_get(paths[2]).version)

    plain = iw("review", "commit", str(lib))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == (
        "nothing to commit: 0 approved drafts match; 2 pending "
        "(approve them, or add --include-pending to write them as they stand)\n"
    )
    as_json = iw("review", "commit", str(lib), "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "job": None,
        "dry_run": False,
        "counts": {},
        "files": [],
        "pending": 2,
        "message": plain.stdout.strip(),
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nothing = iw("review", "commit", str(elsewhere), "--include-pending", "--dry-run")
    assert (nothing.returncode, nothing.stdout) == (0, "nothing to commit: 0 approved or pending drafts match\n")
    jobs = iw("jobs", "--json")
    assert jobs.returncode == 0 and json.loads(jobs.stdout) == []  # not one job was queued


@needs_exiftool
def test_a_commit_that_leaves_a_file_unwritten_exits_3_and_names_it(start_daemon, tmp_path):
    lib, paths = library_with_drafts(tmp_path, 2, start_daemon)
    with Client("test") as c:
        for path in paths:
            c.review_edit(E.Approve(path=path), c.review_get(path).version)
    with open(paths[1], "ab") as changed:  # edited elsewhere since its draft was made: stale, never overwritten
        changed.write(b"\0")
    stale_before = sha(paths[1])

    done = iw("review", "commit", str(lib))
    assert done.returncode == 3, (done.stdout, done.stderr)  # as `tag` does: the job ran, a file was not written
    assert f"stale: {paths[1]}" in done.stdout and "1 written" in done.stdout
    assert sha(paths[1]) == stale_before
    again = iw("review", "commit", str(lib))  # the stale draft waits for the person to look again: none selected
    assert (again.returncode, again.stdout) == (0, "nothing to commit: 0 approved drafts match (approve some first)\n")


def test_commit_takes_the_review_filter(start_daemon, tmp_path):
    lib = tmp_path / "lib"
    beach, mountain = make_photos(lib, 2)
    seed_drafts([beach], ("beach", "sea"))
    seed_drafts([mountain], ("mountain", "snow"))
    start_daemon()
    with Client("test") as c:
        for path in (beach, mountain):
            c.review_edit(E.Approve(path=path), c.review_get(path).version)

    planned = iw("review", "commit", str(lib), "--filter", "kw:mountain", "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    assert [f["path"] for f in json.loads(planned.stdout)["files"]] == [mountain]
    nothing = iw("review", "commit", str(lib), "--filter", "kw:forest")
    assert (nothing.returncode, nothing.stdout) == (
        0,
        "nothing to commit: 0 approved drafts match (approve some first)\n",
    )
