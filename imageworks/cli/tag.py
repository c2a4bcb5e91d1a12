"""`imageworks tag DIR`: scan (cached), pick the images, submit a tagging job to the daemon, follow it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click
import msgspec

from imageworks import client, config, jsonio
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.cli.jobs import follow_with_progress, summary_line
from imageworks.errors import ImageWorksError
from imageworks.jobs.records import TagRecord
from imageworks.tagging.outcomes import exit_status, summary_lines, tally


@click.command("tag")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Model for the job (default: the loaded one, or the configured one).")
@click.option("--profile", default=None, help="Prompt profile: three-step, single-pass or one of yours.")
@click.option("--max-keywords", type=click.IntRange(1, 200), default=None, help="Keywords kept per image.")
@click.option("--batch-size", type=click.IntRange(1, 512), default=None, help="Requests per model batch.")
@click.option("--skip-tagged", is_flag=True, help="Leave out images that already carry keywords or a caption.")
@click.option(
    "--write",
    "write_mode",
    type=click.Choice(["none", "skip", "merge", "overwrite"]),
    default="none",
    show_default=True,
    help="Write results into the images as each one is done (none = review first).",
)
@click.option("--dry-run", is_flag=True, help="With --write: record the planned metadata changes, change no file.")
@click.option("--jsonl", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Export results here.")
@click.option("--detach", is_flag=True, help="Submit and return; the job runs on in the daemon.")
@click.option("--refresh", is_flag=True, help="Re-walk the directory even if the cached listing is fresh.")
@click.option("--min-size", default=None, help="Only files at least this big (500k, 1MB).")
@click.option("--ext", default=None, help="Only these extensions or kinds (jpg,png,raw).")
@json_option
@handle_errors
def tag_cmd(
    directory: Path,
    model: str | None,
    profile: str | None,
    max_keywords: int | None,
    batch_size: int | None,
    skip_tagged: bool,
    write_mode: str,
    dry_run: bool,
    jsonl: Path | None,
    detach: bool,
    refresh: bool,
    min_size: str | None,
    ext: str | None,
    as_json: bool,
) -> None:
    """Caption, keyword and describe the images under DIRECTORY through the daemon's model.

    Each image's result is journaled as soon as it is done; Ctrl-C asks whether to cancel the job or detach
    (it keeps running: `imageworks jobs attach ID`); an interrupted job continues with `imageworks jobs resume ID`.

    Exit status: 0 all tagged (and written or unchanged by the write mode's policy); 1 error or the job failed;
    3 some images failed or were not written, or only partly (a value kept out; each named); 4 cancelled or
    interrupted (resume it)."""
    from imageworks.cli.library import listing, scan_in_daemon
    from imageworks.scan import ScanCache, ScanFilter
    from imageworks.scan.filters import parse_extensions, parse_size
    from imageworks.scan.job import scan_result
    from imageworks.scan.records import display_path
    from imageworks.scan.roots import check_root
    from imageworks.tagging.job import params_from_config

    if dry_run and write_mode == "none":
        raise ImageWorksError("--dry-run needs --write skip|merge|overwrite (it previews metadata changes)")
    if jsonl is not None and jsonl.exists():
        raise ImageWorksError(f"{jsonl} exists; choose another --jsonl path (nothing is overwritten)")
    cfg = config.load()
    filters = ScanFilter(
        min_size=parse_size(min_size) if min_size else None,
        extensions=parse_extensions(ext) if ext else (),
    )
    skipped = 0
    if skip_tagged:  # the daemon walks if need be and reads the "already tagged?" flags (it writes the cache)
        key = check_root(directory)
        scan = cfg.scan
        record = scan_in_daemon(
            key, ttl=scan.ttl_seconds, refresh=refresh, follow_symlinks=scan.follow_symlinks, probe=filters
        )
        scanned = scan_result(record)
        with ScanCache(config=cfg.scan, read_only=True) as cache:
            entries = cache.query(key, filters)
        # unreadable files (flag unknown) go through: they fail alone in the job, with a clear note
        keep = [e for e in entries if e.has_metadata is not True]
        skipped = len(entries) - len(keep)
        entries = keep
    else:
        scanned, entries = listing(str(directory), cfg, refresh=refresh, filters=filters)
    note = (
        f"{scanned.files} images under {display_path(str(directory))} ({'cached' if scanned.from_cache else 'scanned'})"
    )
    if skipped:
        note += f", {skipped} already tagged skipped"
    if not entries:
        _say(as_json, {"job": None, "images": 0, "message": note + ": nothing to tag"}, note + ": nothing to tag")
        return
    params = params_from_config(
        cfg.tagger, profile=profile, max_keywords=max_keywords, write=write_mode, dry_run=dry_run or None
    )
    items = [{"path": e.path, "size": e.size, "mtime_ns": e.mtime_ns} for e in entries]
    ensure_daemon()
    with client.Client("cli-tag") as c:
        job = c.submit("tag", items, params, model=model or "", batch_size=batch_size or 0).job
        if not as_json:
            click.echo(f"{note}; job {job.job_id}: {len(items)} images", err=True)
        if detach:
            _say(
                as_json,
                {"job": msgspec.to_builtins(job)},
                f"detached; follow with: imageworks jobs attach {job.job_id}",
            )
            return
        final = follow_with_progress(c, job.job_id, as_json=as_json, label="tagging")
        records = [(cast(TagRecord, r.record), r.item.get("path")) for r in c.all_results(job.job_id)]
    if jsonl is not None:
        from imageworks.tagging.export import write_jsonl

        count = write_jsonl(records, jsonl)
        if not as_json:
            click.echo(f"wrote {count} results to {jsonl}", err=True)
    outcomes = tally((record for record, _ in records), write_mode)
    if as_json:
        click.echo(jsonio.dumps({"job": msgspec.to_builtins(final), "outcomes": outcomes.as_dict()}))
    else:
        for line in summary_lines(outcomes, write_mode, final.job_id):
            click.echo(line)
        click.echo(summary_line(final))
        if final.state in ("cancelled", "interrupted"):
            click.echo(f"continue it with: imageworks jobs resume {final.job_id}", err=True)
    sys.exit(exit_status(final.state, outcomes))


def _say(as_json: bool, data: dict, text: str) -> None:
    if as_json:
        emit_json(data)
    else:
        click.echo(text)
