"""`imageworks metadata show PATH… | write PATH… --caption … --keywords a,b --mode merge [--dry-run] |
restore PATH… | --job ID`."""

from __future__ import annotations

import secrets
import sys
from datetime import datetime
from typing import Any

import click
import msgspec

from imageworks import config
from imageworks import metadata as md
from imageworks.cli.common import emit_json, handle_errors, json_option


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
    help="skip: leave tagged files; merge: add keywords, fill empty text; overwrite: replace. [config: metadata.mode]",
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
    failed = written = False
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
        out.append({"plan": msgspec.to_builtins(plan), "applied": msgspec.to_builtins(applied)})
        if not as_json and plan.has_changes:
            click.echo("  dry run: nothing written" if dry_run else "  written")
    if as_json:
        emit_json({"job_id": job_id if written else None, "dry_run": dry_run, "files": out})
    elif written:
        click.echo(f"job {job_id}: undo with `imageworks metadata restore --job {job_id}`")
    if failed:
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
