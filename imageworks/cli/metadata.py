"""`imageworks metadata show PATH… | write PATH… --caption … --keywords a,b --mode merge [--dry-run] |
restore PATH… | --job ID | backups [--prune --older-than 30d]`."""

from __future__ import annotations

import re
import secrets
import sys
from collections import Counter
from datetime import datetime
from typing import Any

import click
import msgspec

from imageworks import config
from imageworks import metadata as md
from imageworks.cli.common import emit_json, handle_errors, json_option
from imageworks.cli.review_memory import ReviewMemory
from imageworks.review.memory import file_written
from imageworks.review.rounds import Asked, FileWritten, with_memory
from imageworks.scan.filters import format_size
from imageworks.tagging.outcomes import EXIT_PARTIAL


@click.group("metadata")
def metadata_group() -> None:
    """Show, write and restore photo metadata: captions, descriptions and keywords in XMP, IPTC and EXIF (RAW files
    get an .xmp sidecar)."""


def _error(path: str, exc: md.MetadataError) -> dict[str, Any]:
    click.echo(f"error: {exc}", err=True)
    return {"path": path, "error": str(exc), "code": exc.code}


@metadata_group.command("show")
@click.argument("paths", nargs=-1, required=True)
@json_option
@handle_errors
def show(paths: tuple[str, ...], as_json: bool) -> None:
    """What each photo holds now: caption (title), description, keywords, and whether ImageWorks tagged it."""
    options = config.load().metadata
    out: list[dict[str, Any]] = []
    failed = False
    for path in paths:
        try:
            existing = md.read(path, options=options)
        except md.MetadataError as exc:
            out.append(_error(path, exc))
            failed = True
            continue
        out.append(msgspec.to_builtins(existing))
        if not as_json:
            _print_existing(existing)
    if as_json:
        emit_json(out[0] if len(out) == 1 else out)
    if failed:
        sys.exit(1)


def _print_existing(e: md.Existing) -> None:
    where = f"sidecar {e.target}" if e.sidecar else "in file"
    click.echo(f"{e.path} ({e.format.upper()}, {where})")
    click.echo(f"  caption:      {e.caption or '—'}")
    click.echo(f"  description:  {e.description or '—'}")
    click.echo(f"  keywords:     {', '.join(e.keywords) or '—'}")
    if e.hierarchical:
        click.echo(f"  hierarchy:    {', '.join(e.hierarchical)}")
    if e.provenance:
        p = e.provenance
        profile = f", profile {p.profile} v{p.profile_version}" if p.profile else ""
        click.echo(f"  tagged by:    {p.tool or 'ImageWorks'} (model {p.model}{profile}, {p.date})")
    for name, value in sorted(e.fields.items()):
        text = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"    {name}: {text}")


def _keywords(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [k.strip() for k in value.split(",") if k.strip()]


@metadata_group.command("write")
@click.argument("paths", nargs=-1, required=True)
@click.option("--caption", default=None, help="Short caption (XMP dc:title, Windows title). '' clears it (overwrite).")
@click.option("--description", default=None, help="Longer description (dc:description, IPTC caption, EXIF).")
@click.option("--keywords", default=None, help="Comma-separated; 'places|beach' is a hierarchy. '' clears them.")
@click.option(
    "--mode",
    type=click.Choice(md.MODES),
    default=None,
    help="merge: add keywords, fill empty text and replace what ImageWorks wrote last; overwrite: replace; skip: leave"
    " tagged files. A value the mode keeps out is reported and the exit status is 3. [config: metadata.mode, default"
    " merge]",
)
@click.option("--dry-run", is_flag=True, help="Show the changes; write nothing.")
@json_option
@handle_errors
def write(
    paths: tuple[str, ...],
    caption: str | None,
    description: str | None,
    keywords: str | None,
    mode: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Write a caption, description and/or keywords into photos. Prints the diff first; every file is backed up
    before its first change, and one run is one job: undo it with `imageworks metadata restore --job ID`.

    A photo with a review draft is written as every ImageWorks write is: what ImageWorks wrote there last is
    replaced, what someone changed since is kept and named; its draft then shows what the file holds (the daemon,
    which keeps the drafts, is asked first and told after; one is started if none runs). Exit status: 0 every value
    written (or already there); 3 some file or value was not written (each named); 2 bad usage."""
    if caption is None and description is None and keywords is None:
        raise click.UsageError("give at least one of --caption, --description, --keywords")
    options = config.load().metadata
    chosen: md.Mode = mode or options.mode  # type: ignore[assignment]
    given = _keywords(keywords)
    proposed = md.Proposed(caption=caption, description=description, keywords=given)
    asked = Asked(caption=caption, description=description, keywords=given, replace_keywords=chosen != "merge")
    job_id = f"cli-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    out: list[dict[str, Any]] = []
    actions: Counter[str] = Counter()
    told: list[FileWritten] = []
    kept_out = False
    with ReviewMemory(paths) as memory:
        for path in paths:
            recalled = memory.recall(path)
            try:
                plan = md.plan(path, with_memory(proposed, recalled, adds_keywords=chosen == "merge"), chosen,
                               options=options)  # fmt: skip
                if not as_json:
                    click.echo("\n".join(plan.describe()))
                applied = None if dry_run else md.apply(plan, job_id=job_id)
            except md.MetadataError as exc:
                out.append({**_error(path, exc), "action": "error"})
                actions["error"] += 1
                continue
            action = _action(plan, applied, dry_run)
            actions[action] += 1
            kept_out = kept_out or bool(plan.not_written)  # a dry run too: what the write would keep out
            if recalled.version and not dry_run and action != "skipped":
                told.append(file_written(recalled, plan, applied, asked))
            out.append({"plan": msgspec.to_builtins(plan), "applied": msgspec.to_builtins(applied), "action": action})
            if not as_json and plan.has_changes:
                click.echo("  dry run: nothing written" if dry_run else f"  {action.replace('_', ' ')}")
        drafts = memory.tell(told, job_id)
    written = bool(actions["written"] or actions["partly_written"])
    if as_json:
        emit_json({"job_id": job_id if written else None, "dry_run": dry_run, "files": out, "counts": dict(actions),
                   "drafts": drafts})  # fmt: skip
    else:
        click.echo(", ".join(f"{n} {a.replace('_', ' ')}" for a, n in sorted(actions.items())))
        if written:
            click.echo(f"job {job_id}: undo with `imageworks metadata restore --job {job_id}`")
        if drafts:
            click.echo(f"{drafts} review draft(s) now show what their files hold")
    if kept_out or actions["error"]:
        if not as_json:
            click.echo("error: some values were not written (see 'not written' above)", err=True)
        sys.exit(EXIT_PARTIAL)


def _action(plan: md.Plan, applied: md.Applied | None, dry_run: bool) -> str:
    """What writing ``plan`` did to its file, in the words `review commit` uses."""
    if plan.has_changes:
        if dry_run:
            return "would_write"
        assert applied is not None
        return "partly_written" if plan.not_written else "written"
    if plan.not_written:
        return "skipped" if plan.mode == "skip" else "kept"
    return "unchanged"


@metadata_group.command("restore")
@click.argument("paths", nargs=-1)
@click.option("--job", "job_id", default=None, help="Restore every file this job changed, as it was before the job.")
@click.option("--force", is_flag=True, help="Restore even files changed since ImageWorks wrote them (loses that).")
@json_option
@handle_errors
def restore(paths: tuple[str, ...], job_id: str | None, force: bool, as_json: bool) -> None:
    """Put photos back as they were before ImageWorks changed them (from the backups in the state dir)."""
    if not paths and job_id is None:
        raise click.UsageError("give a PATH or --job ID")
    results: list[md.Restored] = []
    errors: list[dict[str, Any]] = []
    for path in paths or (None,):
        try:
            results += md.restore(path, job_id=job_id, force=force)
        except md.MetadataError as exc:
            errors.append(_error(path or f"job {job_id}", exc))
    reopened = _reopen_drafts([r.photo for r in results if r.action != "refused"])
    if as_json:
        emit_json(
            {"results": [msgspec.to_builtins(r) for r in results], "errors": errors, "drafts_approved_again": reopened}
        )
    else:
        for r in results:
            reason = f" ({r.reason})" if r.reason else ""
            click.echo(f"{r.action}: {r.target}{reason}", err=r.action == "refused")
        if reopened:
            click.echo(f"{reopened} review draft(s) approved again: their files no longer hold what was written")
    if errors or any(r.action == "refused" for r in results):
        sys.exit(1)


def _reopen_drafts(photos: list[str]) -> int:
    """A restored file no longer holds what its review draft wrote: the daemon (the drafts' one writer) moves the
    draft back to approved. A daemon that is not running does it when it starts; none is started for this."""
    from imageworks import client
    from imageworks.errors import DaemonError

    if not photos or client.daemon_alive() is None:
        return 0
    try:
        with client.Client("cli") as c:
            return len(c.review_restored(photos).drafts)
    except DaemonError as exc:
        click.echo(f"note: the review drafts were not told ({exc}); the daemon finds them at its next start", err=True)
        return 0


AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _age_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``30d`` -> seconds (s, m, h, d, w)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value.lower())
    if not match:
        raise click.BadParameter(f"not an age: {value!r} (examples: 30d, 12h, 2w)")
    return float(match.group(1)) * AGE_UNITS[match.group(2)]


def _backup_row(e: md.BackupEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "created": datetime.fromtimestamp(e.created_ns / 1e9).isoformat(timespec="seconds"),
        "job_id": e.job_id,
        "photo": e.photo,
        "target": e.target,
        "existed": e.existed,
        "size": e.before.size if e.before else 0,
        "restored": e.restored_ns is not None,
    }


@metadata_group.command("backups")
@click.option(
    "--prune", is_flag=True, help="Delete backups older than --older-than (their writes can no longer be undone)."
)
@click.option("--older-than", callback=_age_option, help="With --prune: how old, e.g. 30d, 12h, 2w [default: 30d].")
@json_option
@handle_errors
def backups(prune: bool, older_than: float | None, as_json: bool) -> None:
    """The backups ImageWorks keeps (in the state dir) of every file it changed: list them, or prune old ones."""
    if older_than is not None and not prune:
        raise click.UsageError("--older-than goes with --prune")
    with md.BackupStore() as store:
        pruned = md.prune_backups(older_than if older_than is not None else 30 * 86400, store) if prune else None
        rows = [_backup_row(e) for e in store.entries(include_restored=True)] if store.root.exists() else []
    use = md.backup_usage()  # measured with the index closed
    if as_json:
        emit_json(
            {
                "root": str(store.root),
                "usage": msgspec.to_builtins(use),
                "pruned": msgspec.to_builtins(pruned) if pruned else None,
                "backups": rows,
            }
        )
        return
    for row in rows:
        state = "restored" if row["restored"] else "new file" if not row["existed"] else format_size(row["size"])
        click.echo(f"{row['created'].replace('T', ' ')}  {row['job_id'] or '-':26} {row['target']}  ({state})")
    if pruned is not None:
        click.echo(
            f"pruned {pruned.entries} backup(s): {pruned.blobs} original(s), {format_size(pruned.bytes)} freed",
            err=True,
        )
    click.echo(f"{use.entries} backup(s), {use.blobs} original(s), {format_size(use.bytes)} in {store.root}")
