"""`imageworks scan DIR` and `imageworks cache clear [DIR]`."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

import click

from imageworks import config
from imageworks import protocol as P
from imageworks.cli.common import emit_json, ensure_daemon, handle_errors, json_option
from imageworks.cli.library import scan_in_daemon
from imageworks.scan import (
    ScanCache,
    ScanError,
    ScanFilter,
    ScanResult,
    display_path,
    format_duration,
    format_size,
    parse_extensions,
    parse_size,
)
from imageworks.scan.job import scan_result
from imageworks.scan.roots import check_root

SHOWN_ERRORS = 5


def _size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_size(value)
    except ScanError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _extensions_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    try:
        return parse_extensions(value)
    except ScanError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()  # a date or date-time; local time unless it says otherwise
    except ValueError:
        message = f"not a date: {value!r} (use 2024-05-31 or 2024-05-31T18:00)"
        raise click.BadParameter(message, ctx=ctx, param=param) from None


def summary_line(result: ScanResult) -> str:
    """``DIR: 1,234 images, 5.6 GB, fresh scan in 0.42 s (+3 added, 1 removed)``."""
    head = f"{display_path(result.root)}: {result.files:,} images, {format_size(result.bytes)}"
    if result.from_cache:
        how = f"from cache (scanned {format_duration(result.age_seconds)} ago) in {result.seconds:.3f} s"
    else:
        how = f"fresh scan in {result.seconds:.2f} s"
        changes = [
            f"{n:,} {what}"
            for n, what in ((result.added, "added"), (result.removed, "removed"), (result.changed, "changed"))
            if n
        ]
        if changes:
            how += f" ({', '.join(changes)})"
    notes = []
    if result.skipped_dirs:
        notes.append(f"{result.skipped_dirs} unreadable dirs skipped")
    if result.empty_files:
        notes.append(f"{result.empty_files} empty files")
    if result.symlinks_skipped:
        notes.append(f"{result.symlinks_skipped} symlinks not followed")
    if result.error_count:
        notes.append(f"{result.error_count} problems")
    return f"{head}, {how}" + (f"; {', '.join(notes)}" if notes else "")


class _Progress:
    """A rich progress display on stderr, started only once a walk (or a metadata probe) actually runs, and only
    when stderr is a terminal. Each phase replaces the previous one."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None
        self.phase = ""

    def event(self, event: P.JobProgressEvent) -> None:
        """The daemon's walk (a count of files so far), then its metadata probe (done of total)."""
        if not event.total:
            if self._phase("scan", total=None):
                self.progress.update(self.task, description=f"scanning: {event.message}")
        elif self._phase("probe", total=event.total):
            description = f"reading metadata: {event.done:,}/{event.total:,}"
            self.progress.update(self.task, completed=event.done, description=description)

    def _phase(self, phase: str, total: float | None) -> bool:
        if not self.enabled:
            return False
        if self.progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
            self.progress = Progress(*columns, console=Console(stderr=True), transient=True)
            self.progress.start()
        if phase != self.phase:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task("", total=total)
            self.phase = phase
        return True

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@click.command("scan")
@click.argument("directory")
@click.option("--refresh", is_flag=True, help="Walk the directory now even if its cached listing is still fresh.")
@click.option(
    "--ttl", type=float, default=None, help="Seconds a cached listing stays fresh [config: scan.ttl_seconds]."
)
@click.option(
    "--follow-symlinks/--no-follow-symlinks",
    default=None,
    help="Follow symlinked files and dirs (never looping) [config: scan.follow_symlinks].",
)
@click.option("--min-size", callback=_size_option, help="Only files at least this big: 500k, 1MB, 2MiB.")
@click.option("--max-size", callback=_size_option, help="Only files at most this big.")
@click.option("--ext", "extensions", callback=_extensions_option, help="Only these types: jpg,png,tif,webp,raw,nef...")
@click.option("--name", "name_glob", help="Only file names matching this glob (case-insensitive): '*beach*'.")
@click.option("--since", callback=_date_option, help="Only files modified on or after this date (2024-05-31).")
@click.option("--until", callback=_date_option, help="Only files modified before this date.")
@click.option(
    "--tagged/--untagged",
    default=None,
    help="Only files that already carry keywords/title/description (or that don't). Reads metadata as needed.",
)
@click.option(
    "--list", "list_paths", is_flag=True, help="Print the matching paths, one per line (the summary goes to stderr)."
)
@json_option
@handle_errors
def scan_cmd(
    directory: str,
    refresh: bool,
    ttl: float | None,
    follow_symlinks: bool | None,
    min_size: int | None,
    max_size: int | None,
    extensions: tuple[str, ...],
    name_glob: str | None,
    since: float | None,
    until: float | None,
    tagged: bool | None,
    list_paths: bool,
    as_json: bool,
) -> None:
    """Find the images under DIRECTORY (cached; fast filters over the cached listing).

    Prints one summary line: files, bytes, whether the listing came from the cache or a fresh walk, and seconds.
    With filters, also how many files match."""
    cfg = config.load()
    show = _Progress(enabled=not as_json and sys.stderr.isatty())
    filters = ScanFilter(
        min_size=min_size,
        max_size=max_size,
        extensions=extensions,
        name_glob=name_glob,
        modified_after=since,
        modified_before=until,
    )
    key = check_root(directory)
    ttl = cfg.scan.ttl_seconds if ttl is None else ttl
    follow = cfg.scan.follow_symlinks if follow_symlinks is None else follow_symlinks
    probe_info: dict[str, Any] | None = None
    warnings: list[str] = []
    with ScanCache(config=cfg.scan, read_only=True) as cache:
        # a fresh cached listing is read here; a walk or a metadata probe writes the cache: the daemon does those
        result = None if refresh or tagged is not None else cache.fresh(key, ttl=ttl, follow_symlinks=follow)
        if result is None:
            try:
                probe = filters if tagged is not None else None
                record = scan_in_daemon(
                    key, ttl=ttl, refresh=refresh, follow_symlinks=follow, probe=probe, progress=show.event
                )
            finally:
                show.stop()
            result, warnings = scan_result(record), record.warnings
            if record.probed is not None:
                errors = [display_path(e) for e in record.probe_errors]
                probe_info = {"probed": record.probed, "cached": record.probe_cached, "errors": errors}
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        if tagged is not None:
            filters = ScanFilter(**{**_fields(filters), "has_metadata": tagged})
        filtered = not filters.is_empty()
        matching = cache.totals(result.root, filters) if filtered else None
        paths = [e.path for e in cache.query(result.root, filters)] if list_paths else None

    if as_json:
        data = result.to_dict()
        data["matching"] = None if matching is None else {"files": matching[0], "bytes": matching[1]}
        data["filters"] = _fields(filters) if filtered else None
        data["metadata_probe"] = probe_info
        data["paths"] = None if paths is None else [display_path(p) for p in paths]
        data["warnings"] = list(warnings)
        emit_json(data)
        return
    to_stderr = list_paths
    click.echo(summary_line(result), err=to_stderr)
    if matching is not None:
        click.echo(f"matching filters: {matching[0]:,} images, {format_size(matching[1])}", err=to_stderr)
    problems = list(result.errors) + (probe_info["errors"] if probe_info else [])
    for line in problems[:SHOWN_ERRORS]:
        click.echo(f"  {display_path(line)}", err=True)
    more = result.error_count + len(probe_info["errors"] if probe_info else []) - SHOWN_ERRORS
    if more > 0:
        click.echo(f"  ... and {more} more (--json lists them)", err=True)
    if paths is not None:
        sys.stdout.flush()
        out = sys.stdout.buffer
        for p in paths:
            out.write(os.fsencode(p) + b"\n")  # exact bytes: names that are not UTF-8 survive a pipe to xargs
        out.flush()


def _fields(filters: ScanFilter) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(filters)


@click.group("cache")
def cache_group() -> None:
    """Inspect and clear ImageWorks' caches (safe to delete: rebuilt on demand)."""


@cache_group.command("clear")
@click.argument("directory", required=False)
@json_option
@handle_errors
def cache_clear(directory: str | None, as_json: bool) -> None:
    """Forget the cached scan of DIRECTORY, or of every directory when none is given (the daemon, which writes the
    cache, does it)."""
    from imageworks import client

    key = None if directory is None else os.path.abspath(os.path.expanduser(directory))
    ensure_daemon()
    with client.Client("cli-cache") as c:
        cleared = c.scan_clear(key or "")
    for warning in cleared.warnings:
        click.echo(f"warning: {warning}", err=True)
    dropped = cleared.roots
    root = None if key is None else display_path(key)
    if as_json:
        emit_json({"root": root, "roots_cleared": dropped})
    elif root is None:
        click.echo(f"cleared the scan cache ({dropped} directories)")
    elif dropped:
        click.echo(f"cleared the cached scan of {root}")
    else:
        click.echo(f"{root} had no cached scan")
