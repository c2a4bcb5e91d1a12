"""JSONL export: the original ImageWorks' field names, from records the job kind really produces."""

from __future__ import annotations

import json
from pathlib import Path

from imageworks.inference import GenResult
from imageworks.jobs import kinds
from imageworks.jobs.records import TagRecord
from imageworks.tagging.export import DEFAULT_BACKEND, EXPORT_FIELDS, export_row, write_jsonl
from imageworks.tagging.job import TagKind

MODEL = {"name": "Qwen/Qwen2.5-VL-7B-Instruct-AWQ", "revision": "abc123"}


def record_for(path: str, answers: list[GenResult]) -> TagRecord:
    kind = kinds.get("tag")
    assert isinstance(kind, TagKind)
    item = {"path": path, "size": 1, "mtime_ns": 2}
    task = kind.make_task(item, kind.prepare(kind.validate([item], {}), MODEL))
    for answer in answers:
        task.next_requests()
        task.feed([answer])
        if task.done:
            break
    return task.record()


GOOD = [
    GenResult(text="A café at dusk.", seconds=0.25),
    GenResult(text='{"keywords": [{"keyword": "café", "score": 0.9}, "dusk"]}', seconds=0.5),
    GenResult(text="A small café. The lights are on.", seconds=0.75),
]


def test_row_has_the_original_field_names_and_values() -> None:
    row = export_row(record_for("/photos/café.jpg", GOOD))
    assert tuple(row) == EXPORT_FIELDS
    assert row == {
        "image": "/photos/café.jpg",
        "keywords": [{"keyword": "café", "score": 0.9}, {"keyword": "dusk", "score": None}],
        "caption": "A café at dusk.",
        "description": "A small café. The lights are on.",
        "backend": DEFAULT_BACKEND,
        "models": {"caption": MODEL["name"], "keywords": MODEL["name"], "description": MODEL["name"]},
        "notes": "",
        "duration_seconds": 1.5,
        "schema_version": 1,
    }
    assert export_row(record_for("/x.jpg", GOOD), backend="remote")["backend"] == "remote"


def test_failed_item_exports_its_error_in_notes() -> None:
    row = export_row(record_for("/bad.jpg", [GenResult(error="cannot open /bad.jpg")]))
    assert row["image"] == "/bad.jpg" and row["caption"] == "" and row["keywords"] == []
    assert row["notes"] == "caption step failed: cannot open /bad.jpg"  # the error, once


def test_bare_runner_error_record() -> None:
    row = export_row(TagRecord(status="error", error="model worker crashed"), image="/p/1.jpg")
    assert tuple(row) == EXPORT_FIELDS
    assert row["image"] == "/p/1.jpg" and row["notes"] == "error: model worker crashed"
    assert row["duration_seconds"] == 0.0 and row["models"]["caption"] == ""


def test_write_jsonl(tmp_path: Path) -> None:
    records = [record_for(f"/photos/{i}.jpg", GOOD) for i in range(3)]
    out = tmp_path / "sub" / "tags.jsonl"
    assert write_jsonl(((r, None) for r in records), out) == 3
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["image"] for line in lines] == [f"/photos/{i}.jpg" for i in range(3)]
    assert "café" in lines[0]  # UTF-8, not \u escapes
    assert sorted(p.name for p in out.parent.iterdir()) == ["tags.jsonl"]  # no temp file left


def test_write_jsonl_failure_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "tags.jsonl"
    out.write_text("old\n", encoding="utf-8")

    def broken():
        yield record_for("/a.jpg", GOOD), None
        raise RuntimeError("journal went away")

    try:
        write_jsonl(broken(), out)
    except RuntimeError:
        pass
    assert out.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tags.jsonl"]


EXPECTED_KEYS = {
    "image",
    "keywords",
    "caption",
    "description",
    "backend",
    "models",
    "notes",
    "duration_seconds",
    "schema_version",
}
"""The JSONL format users' scripts read (the original ImageWorks' names): fixed here, not derived from the code."""


def test_exported_lines_keep_the_user_facing_keys(tmp_path: Path) -> None:
    out = tmp_path / "tags.jsonl"
    bare = TagRecord(status="error", error="model worker crashed")
    write_jsonl([(record_for("/photos/a.jpg", GOOD), None), (bare, "/photos/b.jpg")], out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [set(row) for row in rows] == [EXPECTED_KEYS, EXPECTED_KEYS]
    assert [set(k) for k in rows[0]["keywords"]] == [{"keyword", "score"}] * 2
    assert set(rows[0]["models"]) == {"caption", "keywords", "description"}
    assert rows[1]["image"] == "/photos/b.jpg" and rows[1]["notes"] == "error: model worker crashed"
