"""The mono desk's job kinds.

- ``mono`` (a CPU kind, in the daemon's process pool; never loads the VLM): items ``{"path"}``, params
  ``{"rules": "fiap"|"psa"}``. Each photo is looked up in the mono cache by fingerprint (read-only, in the worker)
  and checked only when it changed; its ``MonoRecord`` carries the verdict and the overlays. The daemon stores new
  results in the cache (``store``: its one writer) before journaling them.
- ``narrate`` (a model kind, through the one batching queue): items are the failing photos' records (path,
  fingerprint, regions, region pictures); one request per region asks the model for the object only
  (``imageworks.mono.narrate``). Its ``NarrateRecord`` keeps the model's answers and the measured sentences.
- ``mono-write`` (on the model's runner, asking it nothing, as ``commit``): items ``{"path", "size", "mtime_ns",
  "verdict", "narration"}``, params ``{"field": "none"|"description"}``; ``finalize`` writes the ``mono:*`` keyword
  (replacing an earlier verdict's) and the narration into the chosen field through the metadata writer, in merge
  mode, journaled first. A file changed since it was checked is not written (its verdict may no longer hold).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from typing import Any, Literal

import msgspec

from imageworks.inference import GenRequest, GenResult
from imageworks.jobs.base import WriteIntents, convert_params
from imageworks.jobs.cpu import CpuKind, ItemProgress, path_items
from imageworks.jobs.records import (
    Fingerprint,
    JobRecord,
    ModelRef,
    MonoRecord,
    MonoWriteRecord,
    NarrateRecord,
    Narration,
    WriteOutcome,
)
from imageworks.mono.result import Analysis, Region
from imageworks.review.rounds import with_memory

VERDICT_KEYWORDS = {
    "neutral_mono": "mono:neutral",
    "toned_mono": "mono:toned",
    "query": "mono:query",
    "not_mono": "mono:not-mono",
}
KEYWORD_PREFIX = "mono:"
NARRATION_FIELDS = ("none", "description")


# ---- mono: the check, in the CPU pool ---------------------------------------------------------------------------


class MonoParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rules: Literal["fiap", "psa"] = "fiap"
    items_digest: str = ""
    """Filled at submit: two clients asking for the same photos under the same rules share one job."""


def record_of(path: str, size: int, mtime_ns: int, cached: Any, from_cache: bool) -> MonoRecord:
    """A photo's record from a stored or fresh check (``mono.cache.Cached``)."""
    fingerprint = Fingerprint(size=size, mtime_ns=mtime_ns)
    analysis: Analysis | None = cached.analysis
    if analysis is None:
        return MonoRecord(path=path, fingerprint=fingerprint, error=cached.problem or "not checked", cached=from_cache)
    return MonoRecord(
        status="ok",
        path=path,
        fingerprint=fingerprint,
        verdict=analysis.verdict,
        reasons=list(analysis.reasons),
        tone=analysis.tone,
        numbers=analysis.numbers,
        regions=list(analysis.regions),
        summary=analysis.summary,
        rules=analysis.rules,
        colour_space=analysis.colour_space,
        dimensions=analysis.size,
        analysed=analysis.analysed,
        overlays=cached.overlays,
        cached=from_cache,
    )


def analysis_of(record: MonoRecord) -> Analysis:
    return Analysis(
        verdict=record.verdict,  # type: ignore[arg-type]
        reasons=record.reasons,
        tone=record.tone,
        numbers=record.numbers,
        regions=record.regions,
        summary=record.summary,
        rules=record.rules,
        colour_space=record.colour_space,
        size=record.dimensions,
        analysed=record.analysed,
    )


class MonoPlan:
    """One job run's rules, and (in a worker) a read-only connection to the mono cache, opened on first use."""

    def __init__(self, params: MonoParams) -> None:
        self.params = params
        self._reader: Any = None

    def lookup(self, path: str, size: int, mtime_ns: int) -> Any:
        """The stored check of this file version, or None: no cache yet, or the daemon creating it right now (its
        first rows are being stored while this worker reads): the photo is checked again, nothing fails."""
        from imageworks.mono.cache import MonoCache

        try:
            if self._reader is None:
                self._reader = MonoCache.reader()
            return self._reader.get(path, size, mtime_ns, self.params.rules)
        except sqlite3.Error:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            return None


class MonoKind(CpuKind):
    name = "mono"
    record_type = MonoRecord

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        path_items(items, self.name)
        checked = convert_params(params, MonoParams, f"{self.name} job")
        digest = hashlib.sha1("\0".join(sorted(i["path"] for i in items)).encode("utf-8", "surrogateescape"))
        return msgspec.to_builtins(msgspec.structs.replace(checked, items_digest=digest.hexdigest()[:16]))

    def share_key(self, params: dict[str, Any]) -> str:
        digest = params.get("items_digest", "")
        return f"{params.get('rules', 'fiap')}:{digest}" if digest else ""

    def prepare(self, params: dict[str, Any]) -> MonoPlan:
        return MonoPlan(convert_params(params, MonoParams, f"{self.name} job"))

    def run_item(self, item: dict[str, Any], plan: MonoPlan, progress: ItemProgress) -> MonoRecord:
        from imageworks.mono.cache import check_and_draw

        path = item["path"]
        try:
            st = os.stat(path)
        except OSError as exc:
            return MonoRecord(path=path, error=f"{path}: cannot read it ({exc.strerror or exc})")
        found = plan.lookup(path, st.st_size, st.st_mtime_ns)
        if found is not None:
            return record_of(path, st.st_size, st.st_mtime_ns, found, from_cache=True)
        cached = check_and_draw(path, st.st_size, st.st_mtime_ns, plan.params.rules)
        return record_of(path, st.st_size, st.st_mtime_ns, cached, from_cache=False)

    def store(self, done: list[tuple[dict[str, Any], JobRecord]], plan: MonoPlan) -> None:
        from imageworks.mono.cache import Cached, MonoCache

        fresh = [r for _, r in done if isinstance(r, MonoRecord) and not r.cached and r.fingerprint.size]
        if not fresh:
            return
        with MonoCache() as cache:
            for record in fresh:
                if record.status == "ok":
                    stored = Cached(analysis=analysis_of(record), overlays=record.overlays)
                else:
                    stored = Cached(problem=record.error or "")
                fp = record.fingerprint
                cache.put(record.path, fp.size, fp.mtime_ns, plan.params.rules, stored)


# ---- narrate: the model names the object at each region --------------------------------------------------------


class NarrateItem(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    size: int = 0
    mtime_ns: int = 0
    verdict: str = ""
    regions: list[Region] = []
    pictures: list[str] = []
    """One picture per region to narrate (``Overlays.regions``): regions beyond them are not asked about."""


class NarrateParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_new_tokens: int = 16


class NarratePlan(msgspec.Struct, frozen=True, kw_only=True):
    params: NarrateParams
    model: ModelRef


class NarrateTask:
    """One photo: a request per narrated region, all in one round (the runner batches them with other photos')."""

    def __init__(self, item: NarrateItem, plan: NarratePlan) -> None:
        self.item = item
        self.plan = plan
        self.asked = list(zip(item.regions, item.pictures, strict=False))
        self.results: list[GenResult] | None = None if self.asked else []

    @property
    def done(self) -> bool:
        return self.results is not None

    def next_requests(self) -> list[GenRequest]:
        from imageworks.mono.narrate import question

        if self.done:
            return []
        return [
            GenRequest(prompt=question(region), image=picture, max_new_tokens=self.plan.params.max_new_tokens)
            for region, picture in self.asked
        ]

    def feed(self, results: list[GenResult]) -> None:
        if len(results) != len(self.asked):
            raise ValueError(f"narrate task: {len(self.asked)} requests, {len(results)} results")
        self.results = results

    def record(self) -> NarrateRecord:
        from imageworks.mono import narrate

        narrations = []
        contradictions = 0
        errors = []
        for (region, _), result in zip(self.asked, self.results or [], strict=True):
            obj, dropped = narrate.read_answer(result.text, region) if result.ok else ("", [])
            if not result.ok:
                errors.append(result.error or "the model failed")
            contradictions += len(dropped)
            narrations.append(
                Narration(
                    object=obj,
                    colour=region.colour,
                    strength=region.strength,
                    location=region.location,
                    area_pct=region.area_pct,
                    sentence=narrate.sentence(region, obj),
                    answer=result.text,
                    dropped=dropped,
                )
            )
        return NarrateRecord(
            status="error" if errors and len(errors) == len(narrations) else "ok",
            error=errors[0] if errors and len(errors) == len(narrations) else None,
            notes=[f"region {i + 1}: {e}" for i, e in enumerate(errors)] if errors else [],
            path=self.item.path,
            fingerprint=Fingerprint(size=self.item.size, mtime_ns=self.item.mtime_ns),
            verdict=self.item.verdict,
            regions=narrations,
            text=narrate.narration_text([n.sentence for n in narrations]),
            contradictions=contradictions,
            model=self.plan.model,
            seconds=sum(r.seconds for r in self.results or []),
        )


class NarrateKind:
    name = "narrate"
    record_type = NarrateRecord
    uses_model = True

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        convert_params(items, list[NarrateItem], f"{self.name} job: items")
        return msgspec.to_builtins(convert_params(params, NarrateParams, f"{self.name} job"))

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> NarratePlan:
        return NarratePlan(
            params=msgspec.convert(params, NarrateParams),
            model=ModelRef(name=str(model.get("name") or ""), revision=str(model.get("revision") or "")),
        )

    def make_task(self, item: dict[str, Any], plan: NarratePlan) -> NarrateTask:
        return NarrateTask(msgspec.convert(item, NarrateItem), plan)

    def finalize(self, record: NarrateRecord, plan: NarratePlan, job_id: str, intents: WriteIntents) -> NarrateRecord:
        return record


# ---- mono-write: verdicts (and narration) into the files --------------------------------------------------------


class WriteItem(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    size: int
    mtime_ns: int
    verdict: Literal["neutral_mono", "toned_mono", "query", "not_mono"]
    narration: str = ""


class WriteParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    field: Literal["none", "description"] = "none"


class WritePlan:
    """One run of a mono-write job: its params, and each item until its ``finalize`` takes it (``make_task`` runs on
    the loop, ``finalize`` on the runner's thread)."""

    def __init__(self, params: WriteParams) -> None:
        self.params = params
        self.items: dict[str, WriteItem] = {}


class WriteTask:
    """Nothing to ask the model: done at once; ``finalize`` writes."""

    done = True

    def __init__(self, item: WriteItem, plan: WritePlan) -> None:
        self.item = item
        self.params = plan.params
        plan.items[item.path] = item

    def next_requests(self) -> list[GenRequest]:
        return []

    def feed(self, results: list[GenResult]) -> None:
        raise AssertionError("a mono-write task asks the model nothing")

    def record(self) -> MonoWriteRecord:
        return MonoWriteRecord(
            status="ok",
            path=self.item.path,
            verdict=self.item.verdict,
            keyword=VERDICT_KEYWORDS[self.item.verdict],
            field=self.params.field,
        )


class MonoWriteKind:
    name = "mono-write"
    record_type = MonoWriteRecord
    uses_model = False

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        convert_params(items, list[WriteItem], f"{self.name} job: items")
        return msgspec.to_builtins(convert_params(params, WriteParams, f"{self.name} job"))

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> WritePlan:
        return WritePlan(msgspec.convert(params, WriteParams))

    def make_task(self, item: dict[str, Any], plan: WritePlan) -> WriteTask:
        return WriteTask(msgspec.convert(item, WriteItem), plan)

    def finalize(self, record: MonoWriteRecord, plan: WritePlan, job_id: str, intents: WriteIntents) -> JobRecord:
        return write_verdict(plan.items.pop(record.path), plan.params, record, job_id, intents)


def write_verdict(
    item: WriteItem, params: WriteParams, record: MonoWriteRecord, job_id: str, intents: WriteIntents | None
) -> MonoWriteRecord:
    """Plan and apply the verdict keyword (and narration) in merge mode; the outcome goes on the record."""
    from imageworks import metadata as md

    outcome = WriteOutcome(mode="merge")
    notes = list(record.notes)
    record = msgspec.structs.replace(record, narration=item.narration if params.field == "description" else "")
    try:
        st = os.stat(item.path)
        if (st.st_size, st.st_mtime_ns) != (item.size, item.mtime_ns):
            raise md.MetadataError(
                f"{item.path}: changed on disk since it was checked; not written (check it again)", code="changed"
            )
        proposed = md.Proposed(
            keywords=[VERDICT_KEYWORDS[item.verdict]],
            description=(item.narration or None) if params.field == "description" else None,
            own_keyword_prefix=KEYWORD_PREFIX,
        )
        # planned against the review's memory of our last write, as every writer is: our own text is ours to replace
        recalled = intents.recall(item.path) if intents is not None else None
        outcome.version = recalled.version if recalled is not None else 0
        plan = md.plan(item.path, with_memory(proposed, recalled, adds_keywords=True), "merge")
        outcome.changes = plan.describe()
        outcome.reason = plan.reason
        outcome.truncated = list(plan.truncated)
        outcome.last = plan.last_write  # the photo's draft keeps it for the next round
        outcome.target = plan.target
        outcome.not_written = list(plan.not_written)
        if params.field == "description" and item.narration:
            notes.extend(plan.not_written)
        if plan.has_changes:
            if intents is not None:
                planned = WriteOutcome(**{**msgspec.structs.asdict(outcome), "written": True, "target": plan.target})
                intents.planned(plan.target, msgspec.structs.replace(record, write=planned, notes=notes))
            applied = md.apply(plan, job_id=job_id, before_replace=intents.ready if intents is not None else None)
            outcome.written = bool(applied.changed)
            outcome.target = applied.target
            outcome.backup_id = applied.backup_id
    except (md.MetadataError, OSError) as exc:
        outcome.error = str(exc)
        notes.append(f"metadata not written: {exc}")
    return msgspec.structs.replace(record, write=outcome, notes=notes)
