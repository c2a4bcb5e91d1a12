"""`imageworks review list [DIR] | export --jsonl OUT [DIR] | import FILE | commit [DIR]`: the review, headless.

The same contract as the TUI's review: drafts live in the daemon, edits are protocol requests (an import is one
step per draft, undoable), and a commit is a ``commit`` job that writes the drafts' edited values through the
metadata writer. The JSONL format: one object per image, ``path``, ``status``, ``generated`` and ``edited``
({caption, keywords, description}); an import reads ``status`` and ``edited``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import msgspec

from imageworks import client, jsonio
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option, write_jsonl_text
from imageworks.errors import DaemonError
from imageworks.jobs.records import CommitRecord
from imageworks.review.edits import SetValues
from imageworks.review.model import STATUSES, Draft, Values
from imageworks.scan.records import display_path
from imageworks.tagging.outcomes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_STOPPED

PAGE = 2000
IMPORTABLE = ("pending", "approved", "rejected")
"""The statuses an import sets; ``committed`` and ``stale`` are the daemon's to give."""


def connect() -> client.Client:
    ensure_daemon()
    return client.Client("cli")


def root_of(directory: Path | None) -> str:
    return "" if directory is None else str(directory.expanduser().resolve())


def all_drafts(c: client.Client, root: str, query: str) -> Iterator[Draft]:
    after: str | None = None
    while True:
        page = c.review_list(root, query, after=after, limit=PAGE)
        yield from page.drafts
        if page.next_after is None:
            return
        after = page.next_after


def values_row(values: Values, *, kept_only: bool) -> dict[str, Any]:
    keywords = values.kept_keywords if kept_only else [k.keyword for k in values.keywords]
    return {"caption": values.caption, "keywords": keywords, "description": values.description}


def export_row(draft: Draft) -> dict[str, Any]:
    """One image of the JSONL export: generated = what the model proposed, edited = what a commit writes."""
    return {
        "path": draft.path,
        "status": draft.status,
        "generated": values_row(draft.generated, kept_only=False),
        "edited": values_row(draft.edited, kept_only=True),
    }


@click.group("review")
def review_group() -> None:
    """Review the model's proposals (drafts): list, export, import edits, commit into the files."""


@review_group.command("list")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only drafts with this status.")
@click.option("--filter", "query", default="", help='Filter language: kw:beach -kw:people caption:"sunset".')
@json_option
@handle_errors
def list_cmd(directory: Path | None, status: str | None, query: str, as_json: bool) -> None:
    """The drafts under DIRECTORY (default: all), in path order."""
    if status:
        query = f"status:{status} ({query})" if query.strip() else f"status:{status}"
    with connect() as c:
        drafts = list(all_drafts(c, root_of(directory), query))
    if as_json:
        emit_json([{**export_row(d), "version": d.version, "stale_reason": d.stale_reason} for d in drafts])
        return
    if not drafts:
        click.echo("no drafts" + (f" with status {status}" if status else "") + " (tag images first)")
        return
    counts = Counter(d.status for d in drafts)
    for d in drafts:
        caption = d.edited.caption.replace("\n", " ")
        click.echo(f"{d.status:9} {len(d.edited.kept_keywords):3d} kw  {display_path(d.path)}  {caption[:60]}")
    click.echo(f"{len(drafts)} drafts: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), err=True)


@review_group.command("export")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write one JSON object per image here ('-' for stdout).",
)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@handle_errors
def export_cmd(directory: Path | None, jsonl: Path, force: bool) -> None:
    """Every draft under DIRECTORY (default: all) as JSON lines, to edit in any other tool and `review import`."""
    with connect() as c:
        text = "".join(jsonio.dumps(export_row(d)) + "\n" for d in all_drafts(c, root_of(directory), ""))
    if not write_jsonl_text(jsonl, text, force=force):
        return
    click.echo(f"wrote {text.count(chr(10))} drafts to {jsonl}", err=True)


class BadLine(Exception):
    """One import line that cannot be applied; the message is the reason."""


def _edit_of(line: str) -> tuple[SetValues, str | None]:
    """The edit one JSONL line asks for (``status`` and ``edited``), and the status it names; raises BadLine."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not row["path"]:
        raise BadLine('no "path" (each line is an object with "path", "status" and "edited")')
    status = row.get("status")
    edited = row.get("edited", {})
    if not isinstance(edited, dict):
        raise BadLine('"edited" must be an object {caption, keywords, description}')
    unknown = set(edited) - {"caption", "keywords", "description"}
    if unknown:
        raise BadLine(f'"edited" has unknown field(s) {", ".join(sorted(unknown))}')
    for name in ("caption", "description"):
        if edited.get(name) is not None and not isinstance(edited[name], str):
            raise BadLine(f'"edited.{name}" must be text')
    keywords = edited.get("keywords")
    if keywords is not None and (not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords)):
        raise BadLine('"edited.keywords" must be a list of text')
    if status is not None and status not in STATUSES:
        raise BadLine(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    edit = SetValues(
        path=row["path"],
        caption=edited.get("caption"),
        description=edited.get("description"),
        keywords=None if keywords is None else tuple(keywords),
        status=status if status in IMPORTABLE else None,
    )
    return edit, status


def _apply(c: client.Client, edit: SetValues, status: str | None) -> bool:
    """Apply one line's edit against the draft as it is now; True when it changed the draft. Raises BadLine."""
    try:
        draft = c.review_get(edit.path)
        # committed and stale are the daemon's to give: importing one is fine only as a no-op (an export re-imported)
        if status not in (None, *IMPORTABLE) and draft.status != status:
            raise BadLine(f"status {status!r} cannot be set by import (only {', '.join(IMPORTABLE)})")
        return bool(c.review_edit(edit, draft.version).drafts)
    except DaemonError as exc:
        if exc.code in ("unknown_draft", "bad_request", "conflict"):
            raise BadLine(str(exc).removeprefix(f"{exc.code}: ")) from None
        raise


@review_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, allow_dash=True, path_type=Path))
@json_option
@handle_errors
def import_cmd(file: Path, as_json: bool) -> None:
    """Apply the `status` and `edited` values of a JSONL file (as `review export` writes it) to the drafts.

    A bad line gets one error (line number and reason) and changes nothing of its draft; the others apply.
    Exits 1 if any line was bad."""
    text = click.get_text_stream("stdin").read() if str(file) == "-" else file.read_text(encoding="utf-8")
    changed = unchanged = 0
    errors: list[dict[str, Any]] = []
    with connect() as c:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                if _apply(c, *_edit_of(line)):
                    changed += 1
                else:
                    unchanged += 1
            except BadLine as exc:
                errors.append({"line": number, "reason": str(exc)})
                if not as_json:
                    click.echo(f"{file}:{number}: {exc}", err=True)
    if as_json:
        emit_json({"changed": changed, "unchanged": unchanged, "errors": errors})
    else:
        click.echo(f"imported {changed} drafts ({unchanged} unchanged, {len(errors)} bad lines)", err=True)
    if errors:
        raise SystemExit(1)


@review_group.command("commit")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--approved-only/--include-pending",
    default=True,
    show_default=True,
    help="Write only the drafts a person approved (the default: what is written is what was approved), or also the "
    "pending ones as they stand. Rejected and stale drafts are never written.",
)
@click.option(
    "--mode",
    type=click.Choice(["merge", "skip", "overwrite"]),
    default="merge",
    show_default=True,
    help="merge: add to what the file holds; skip: leave tagged files alone; overwrite: replace it.",
)
@click.option("--filter", "query", default="", help="Only drafts matching it (as `review list --filter`): kw:beach.")
@click.option("--dry-run", is_flag=True, help="Show each file's field changes; write nothing.")
@json_option
@handle_errors
def commit_cmd(
    directory: Path | None, approved_only: bool, mode: str, query: str, dry_run: bool, as_json: bool
) -> None:
    """Write the drafts' edited values into their files (with backups: `imageworks metadata restore`).

    Never calls the model. A file changed since its draft was made is marked stale and skipped. Safe to run again
    after a crash: files already holding their values are not written twice. With no draft to write, no job is
    queued: it says so in one line and exits 0."""
    from imageworks.cli.jobs import follow_with_progress, summary_line

    with connect() as c:
        reply = c.review_commit(root_of(directory), query, mode=mode, dry_run=dry_run, approved_only=approved_only)
        job = reply.job
        if job is None:
            _nothing_to_write(reply.pending, approved_only, as_json, dry_run)
            return
        final = follow_with_progress(c, job.job_id, as_json=False, label="dry run" if dry_run else "commit")
        records = [r.record for r in c.all_results(job.job_id) if isinstance(r.record, CommitRecord)]
    _report(records, as_json, dry_run)
    if not as_json:
        click.echo(summary_line(final), err=True)
    sys.exit(commit_exit_status(final.state, records))


NOT_WRITTEN = ("stale", "error")
"""Commit outcomes that leave an approved draft's file without its values (each is named in the report); a draft
no longer approved when its turn came (`not_approved`) is left alone as the person now wants."""


def commit_exit_status(state: str, records: list[CommitRecord]) -> int:
    """The exit codes `tag` documents: 1 the job failed, 4 cancelled or interrupted, 3 some files not written."""
    if state == "failed":
        return EXIT_ERROR
    if state in ("cancelled", "interrupted"):
        return EXIT_STOPPED
    if any(r.action in NOT_WRITTEN for r in records):
        return EXIT_PARTIAL
    return EXIT_OK


def _nothing_to_write(pending: int, approved_only: bool, as_json: bool, dry_run: bool) -> None:
    """No draft of the selection to write (no job was queued): one line, and the same in JSON."""
    if not approved_only:
        message = "nothing to commit: 0 approved or pending drafts match"
    elif pending:
        message = (
            f"nothing to commit: 0 approved drafts match; {pending} pending "
            "(approve them, or add --include-pending to write them as they stand)"
        )
    else:
        message = "nothing to commit: 0 approved drafts match (approve some first)"
    if as_json:
        emit_json({"job": None, "dry_run": dry_run, "counts": {}, "files": [], "pending": pending, "message": message})
    else:
        click.echo(message)


def _report(records: list[CommitRecord], as_json: bool, dry_run: bool) -> None:
    counts = Counter(r.action for r in records)
    if as_json:
        emit_json({"dry_run": dry_run, "counts": dict(counts), "files": [msgspec.to_builtins(r) for r in records]})
        return
    for r in records:
        if r.action in ("written", "would_write"):
            for line in r.changes:
                click.echo(line)
        else:
            click.echo(f"{r.action.replace('_', ' ')}: {display_path(r.path)}" + (f" ({r.reason})" if r.reason else ""))
    click.echo(", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(counts.items())))
