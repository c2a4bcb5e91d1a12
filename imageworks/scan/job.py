"""The ``scan`` job kind: a library walk run in the daemon's CPU pool, so the daemon is the scan cache's one writer
(the CLI and the TUI read it through read-only connections and ask the daemon to walk).

Params: ``root`` (the folder; the job's one item is made from it, so a second client asking to scan the same root
with the same settings while the first walks joins that job: ``share_key``), ``ttl`` (seconds a cached listing stays
fresh), ``refresh`` (walk regardless), ``follow_symlinks`` (resolved by the client from its flags and config), and
``probe`` (``ScanFilter`` fields: also read the "already tagged?" flag of the matching files, for ``--tagged`` and
``--skip-tagged``; None: no probe). The record is a ``ScanRecord``; a root that cannot be scanned is that item's
one-line error. A cancelled job stops its walk at the next batch and leaves the cache as it was. A root the daemon
watches (``daemon/watch.py``) is answered from the cache, its rows being current: no walk, ``refresh`` or not.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from imageworks.jobs.base import BadJobParams, convert_params
from imageworks.jobs.cpu import CpuKind, ItemProgress
from imageworks.jobs.records import ScanRecord
from imageworks.scan.records import ScanError, ScanResult
from imageworks.scan.rows import root_key


class ScanParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    root: str
    ttl: float | None = None
    refresh: bool = False
    follow_symlinks: bool | None = None
    probe: dict[str, Any] | None = None
    """``ScanFilter`` fields (``has_metadata`` left out): the files whose metadata flag to read."""


def scan_params(
    root: str, *, ttl: float | None, refresh: bool, follow_symlinks: bool | None, probe: Any = None
) -> dict[str, Any]:
    """The params of a scan job, ``probe`` a ``ScanFilter`` or None."""
    fields = None if probe is None else {k: v for k, v in msgspec.structs.asdict(probe).items() if k != "has_metadata"}
    plan = ScanParams(root=root_key(root), ttl=ttl, refresh=refresh, follow_symlinks=follow_symlinks, probe=fields)
    return msgspec.to_builtins(plan)


def scan_result(record: ScanRecord) -> ScanResult:
    """The record as the ``ScanResult`` the cache would have answered (what ``imageworks scan`` prints)."""
    fields = {f: getattr(record, f) for f in ScanResult.__struct_fields__}
    fields["errors"] = tuple(record.errors)
    return ScanResult(**fields)


class ScanKind(CpuKind):
    name = "scan"
    record_type = ScanRecord

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        if items:
            raise BadJobParams("scan job: name the folder as params.root, not as items")
        plan = self.prepare(params)
        if not plan.root:
            raise BadJobParams("scan job: params.root is empty")
        return msgspec.to_builtins(msgspec.structs.replace(plan, root=root_key(plan.root)))

    def share_key(self, params: dict[str, Any]) -> str:
        """One walk for two clients scanning the same root the same way at once."""
        plan = self.prepare(params)
        return json.dumps([plan.root, plan.follow_symlinks, plan.probe], sort_keys=True)

    def plan_items(self, plan: ScanParams) -> list[dict[str, Any]]:
        return [{"path": plan.root}]

    def prepare(self, params: dict[str, Any]) -> ScanParams:
        plan = convert_params(params, ScanParams, f"{self.name} job")
        if plan.probe is not None:
            self.filters(plan)
        return plan

    @staticmethod
    def filters(plan: ScanParams) -> Any:
        from imageworks.scan.filters import ScanFilter

        try:
            return msgspec.convert(plan.probe or {}, ScanFilter)
        except msgspec.ValidationError as exc:
            raise BadJobParams(f"scan job: bad probe filter: {exc}") from None

    def run_item(self, item: dict[str, Any], plan: ScanParams, progress: ItemProgress) -> ScanRecord:
        from imageworks.scan.cache import ScanCache

        root = root_key(item["path"])
        try:
            with ScanCache() as cache:
                result = cache.scan(
                    root,
                    ttl=plan.ttl,
                    refresh=plan.refresh,
                    follow_symlinks=plan.follow_symlinks,
                    trust_watch=True,  # the daemon let the root's watcher catch up before it queued this job
                    progress=lambda p: progress(p.files, 0, f"walking: {p.files:,} images, {p.dirs:,} folders"),
                )
                record = ScanRecord(status="ok", **{**msgspec.structs.asdict(result), "errors": list(result.errors)})
                if plan.probe is not None:
                    entries = cache.query(result.root, self.filters(plan))
                    probe = cache.ensure_metadata_flags(
                        result.root, entries, progress=lambda done, total: progress(done, total, "reading metadata")
                    )
                    record = msgspec.structs.replace(
                        record, probed=probe.probed, probe_cached=probe.cached, probe_errors=list(probe.errors)
                    )
                return msgspec.structs.replace(record, warnings=list(cache.warnings))
        except ScanError as exc:
            return ScanRecord(root=root, error=str(exc))
