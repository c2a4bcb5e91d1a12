"""`imageworks review list [DIR] | export --jsonl OUT [DIR] | import FILE | commit [DIR]`: the review, headless.

The same contract as the TUI's review: drafts live in the daemon, edits are protocol requests (an import is one
undo step), and a commit is a ``commit`` job that writes the drafts' edited values through the metadata writer.
The JSONL format: one object per image, ``path``, ``version`` (the draft's, for the round trip), ``library`` (what
a relative path resolves against), ``status``, ``generated`` and ``edited`` ({caption, keywords, description}); an
import reads ``version``, ``status`` and ``edited`` (``review_import.py``).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import msgspec

from imageworks import client, jsonio
from imageworks import protocol as P
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option, write_jsonl_text
from imageworks.errors import ImageWorksError
from imageworks.jobs.records import NOT_WRITTEN_ACTIONS, CommitRecord
from imageworks.review.drafts import STATUSES, Draft, Values
from imageworks.scan.records import display_path
from imageworks.tagging.outcomes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_STOPPED

PAGE = 2000


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


def export_row(draft: Draft, library: str = "") -> dict[str, Any]:
    """One image of the JSONL export: generated = what the model proposed, edited = what a commit writes; the
    version an import is checked against, and the library a relative path in an edited line resolves against."""
    return {
        "path": draft.path,
        "version": draft.version,
        **({"library": library} if library else {}),
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
    if not drafts and directory is not None and not directory.is_dir():  # a typo, not an empty review
        raise ImageWorksError(f"{display_path(str(directory))}: no such folder, and no drafts under it")
    if as_json:
        emit_json([{**export_row(d), "stale_reason": d.stale_reason} for d in drafts])
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
    """Every draft under DIRECTORY (default: all) as JSON lines, to edit in any other tool and `review import`.
    Each line carries the draft's version: an import never overwrites a newer edit with it."""
    root = root_of(directory)
    with connect() as c:
        drafts = list(all_drafts(c, root, ""))
    library = root or (os.path.commonpath([os.path.dirname(d.path) for d in drafts]) if drafts else "")
    text = "".join(jsonio.dumps(export_row(d, library)) + "\n" for d in drafts)
    if not write_jsonl_text(jsonl, text, force=force):
        return
    click.echo(f"wrote {text.count(chr(10))} drafts to {jsonl}", err=True)


@review_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, allow_dash=True, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Apply lines over drafts changed since the export (and lines with no version)."
)
@click.option("--partial", is_flag=True, help="Apply the good lines even when some are bad (each bad one is listed).")
@json_option
@handle_errors
def import_cmd(file: Path, force: bool, partial: bool, as_json: bool) -> None:
    """Apply the `status` and `edited` values of a JSONL file (as `review export` writes it) to the drafts.

    Each line is checked against the draft's version it was exported from: a draft changed since refuses it, naming
    the change (--force applies it anyway). Any bad line (each listed with its number and reason) means nothing is
    applied, unless --partial; the applied lines are one undo step. Exits 1 if any line was bad."""
    from imageworks.cli.review_import import run_import

    with click.open_file(str(file), encoding="utf-8") as stream:  # "-": stdin (click 8.2 deprecates get_text_stream)
        text = stream.read()
    with connect() as c:
        outcome = run_import(c, text, force=force, partial=partial)
    errors = [{"line": number, "reason": reason} for number, reason in outcome.errors]
    if as_json:
        emit_json({"changed": outcome.changed, "unchanged": outcome.unchanged, "applied": outcome.applied,
                   "errors": errors})  # fmt: skip
    else:
        for number, reason in outcome.errors:
            click.echo(f"{file}:{number}: {reason}", err=True)
        if outcome.applied:
            bad = f", {len(errors)} bad lines" if errors else ""
            click.echo(f"imported {outcome.changed} drafts ({outcome.unchanged} unchanged{bad})", err=True)
        else:
            click.echo(f"imported nothing: {len(errors)} bad lines (fix them, or --partial applies the rest)", err=True)
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
    directory: Path | None, approved_only: bool, mode: P.WriteMode, query: str, dry_run: bool, as_json: bool
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
        label = "dry run" if dry_run else "commit"
        final = follow_with_progress(c, job.job_id, as_json=False, label=label, name_failures=False)
        records = [r.record for r in c.all_results(job.job_id) if isinstance(r.record, CommitRecord)]
    _report(records, as_json, dry_run)
    if not as_json:
        click.echo(summary_line(final), err=True)
    sys.exit(commit_exit_status(final.state, records))


def commit_exit_status(state: str, records: list[CommitRecord]) -> int:
    """The exit codes `tag` documents: 1 the job failed, 4 cancelled or interrupted, 3 an approved value did not
    (or, in a dry run, would not) reach its file (each named). A draft no longer approved when its turn came
    (``not_approved``) is left alone as the person now wants; mode skip's skipped files are its policy."""
    if state == "failed":
        return EXIT_ERROR
    if state in ("cancelled", "interrupted"):
        return EXIT_STOPPED
    if any(r.action in NOT_WRITTEN_ACTIONS or r.not_written for r in records):
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
        if r.action in ("written", "partly_written", "would_write"):
            for line in r.changes:  # the diff, with a "not written: ..." line per value kept out
                click.echo(display_path(line))  # its header names the file: a non-UTF-8 name escaped
        elif r.action == "kept":
            click.echo(f"kept: {display_path(r.path)} (nothing written)")
            for line in r.not_written:
                click.echo(f"  not written: {display_path(line)}")
        else:
            reason = f" ({display_path(r.reason)})" if r.reason else ""
            click.echo(f"{r.action.replace('_', ' ')}: {display_path(r.path)}{reason}")
    click.echo(", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(counts.items())))
