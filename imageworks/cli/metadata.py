"""`imageworks metadata show PATH… | write PATH… --caption … --keywords a,b --mode merge [--dry-run] |
restore PATH… | --job ID | backups [--prune --older-than 30d]`."""

from __future__ import annotations

import re
import secrets
import sys
from datetime import datetime
from typing import Any

import click
import msgspec

from imageworks import config
from imageworks import metadata as md
from imageworks.cli.common import emit_json, handle_errors, json_option
from imageworks.scan.filters import format_size


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
    help="merge: add keywords, fill empty text; overwrite: replace; skip: leave tagged files. A value the mode keeps"
    " out is reported and the exit status is 1. [config: metadata.mode, default merge]",
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
    before its first change, and one run is one job: undo it with `imageworks metadata restore --job ID`."""
    if caption is None and description is None and keywords is None:
        raise click.UsageError("give at least one of --caption, --description, --keywords")
    options = config.load().metadata
    chosen: md.Mode = mode or options.mode  # type: ignore[assignment]
    proposed = md.Proposed(caption=caption, description=description, keywords=_keywords(keywords))
    job_id = f"cli-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    out: list[dict[str, Any]] = []
    failed = written = dropped = False
    for path in paths:
        try:
            plan = md.plan(path, proposed, chosen, options=options)
            if not as_json:
                click.echo("\n".join(plan.describe()))
            applied = None if dry_run else md.apply(plan, job_id=job_id)
        except md.MetadataError as exc:
            out.append(_error(path, exc))
            failed = True
            continue
        written = written or bool(applied and applied.changed)
        dropped = dropped or bool(plan.not_written)  # an explicit edit not made is not a success
        out.append({"plan": msgspec.to_builtins(plan), "applied": msgspec.to_builtins(applied)})
        if not as_json and plan.has_changes:
            click.echo("  dry run: nothing written" if dry_run else "  written")
    if as_json:
        emit_json({"job_id": job_id if written else None, "dry_run": dry_run, "files": out})
    elif written:
        click.echo(f"job {job_id}: undo with `imageworks metadata restore --job {job_id}`")
    if dropped and not as_json:
        click.echo("error: some values were not written (see 'not written' above)", err=True)
    if failed or dropped:
        sys.exit(1)


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
    if as_json:
        emit_json({"results": [msgspec.to_builtins(r) for r in results], "errors": errors})
    else:
        for r in results:
            reason = f" ({r.reason})" if r.reason else ""
            click.echo(f"{r.action}: {r.target}{reason}", err=r.action == "refused")
    if errors or any(r.action == "refused" for r in results):
        sys.exit(1)


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
    store = md.BackupStore()
    pruned = md.prune_backups(older_than if older_than is not None else 30 * 86400, store) if prune else None
    rows = [_backup_row(e) for e in store.entries(include_restored=True)] if store.root.exists() else []
    use = md.backup_usage(store)
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
