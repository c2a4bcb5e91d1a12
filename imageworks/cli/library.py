"""The library listing as every subcommand gets it: read from the scan cache (read-only), and walked by the daemon,
the cache's one writer, only when the cached listing is stale or a metadata probe is asked for. The daemon is
started for that (and says so on stderr), as ``tag`` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imageworks import config
from imageworks import protocol as P
from imageworks.cli.common import ensure_daemon
from imageworks.jobs.records import ScanRecord
from imageworks.scan import ScanCache, ScanError, ScanFilter, ScanResult, display_path
from imageworks.scan.job import scan_params, scan_result
from imageworks.scan.roots import check_root

Progress = Callable[[P.JobProgressEvent], None]


def scan_in_daemon(
    root: str,
    *,
    ttl: float | None,
    refresh: bool,
    follow_symlinks: bool | None,
    probe: ScanFilter | None = None,
    progress: Progress | None = None,
) -> ScanRecord:
    """Ask the daemon to walk ``root`` (a ``scan`` job; a walk of the same root already running is joined) and
    follow it to its record. Raises ScanError with the walk's one-line error."""
    from imageworks import client

    ensure_daemon()
    params = scan_params(root, ttl=ttl, refresh=refresh, follow_symlinks=follow_symlinks, probe=probe)
    record: ScanRecord | None = None
    with client.Client("cli-scan") as c:
        final = c.submit("scan", [], params).job
        for event in c.follow(final.job_id, progress=progress is not None):
            if isinstance(event, P.JobProgressEvent):
                progress(event)  # type: ignore[misc]
            elif isinstance(event, P.ResultRecord):
                record = event.record if isinstance(event.record, ScanRecord) else None
            else:
                final = event
    if record is None:
        raise ScanError(f"{display_path(root)}: the scan job {final.job_id} ended {final.state} {final.error}".strip())
    if record.status != "ok":
        raise ScanError(record.error or f"{display_path(root)}: cannot scan")
    return record


def listing(
    root: str,
    cfg: config.Config,
    *,
    refresh: bool = False,
    filters: ScanFilter | None = None,
    progress: Progress | None = None,
) -> tuple[ScanResult, list[Any]]:
    """The root's listing (cached when fresh, else walked by the daemon) and its entries matching ``filters``."""
    key = check_root(root)
    with ScanCache(config=cfg.scan, read_only=True) as cache:
        result = None if refresh else cache.fresh(key)
        if result is None:
            follow = cfg.scan.follow_symlinks
            record = scan_in_daemon(
                key, ttl=cfg.scan.ttl_seconds, refresh=refresh, follow_symlinks=follow, progress=progress
            )
            result = scan_result(record)
        return result, cache.query(key, filters or ScanFilter())
