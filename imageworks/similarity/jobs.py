"""The similarity job kinds the daemon runs in its CPU pool (``imageworks.jobs.cpu``).

``hash``: items ``{"path": str}``, params ``{"algorithm": "phash"|"dhash", "hash_size": int}``; each item's record is
a ``HashRecord`` (the packed perceptual hash, or the one-line reason the file cannot be read, a result too), stored
in the similarity cache by the daemon (its one writer) before it is journaled.

``similar``: a folder's near-duplicates (``SimilarKind``): the hash items of what the cache lacks, then the search.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any, Literal

import msgspec

from imageworks.config import SimilarityConfig
from imageworks.errors import ImageWorksError
from imageworks.jobs.base import BadJobParams, convert_params
from imageworks.jobs.cpu import ConcludeContext, CpuKind, ItemProgress, path_items
from imageworks.jobs.records import HashRecord, JobRecord, SimilarOutcome


class HashParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    algorithm: Literal["phash", "dhash"] = "phash"
    hash_size: Annotated[int, msgspec.Meta(ge=4, le=32)] = 8


def hash_record(path: str, algorithm: str, hash_size: int) -> HashRecord:
    """One file's hash as the cache keys it: the file's size and mtime taken just before it is read."""
    from imageworks.similarity.hashing import hash_one

    try:
        st = os.stat(path)
    except OSError as exc:
        return HashRecord(path=path, error=f"cannot read file: {exc.strerror or exc}")
    outcome = hash_one(path, algorithm, hash_size)  # type: ignore[arg-type]
    return HashRecord(
        status="ok",
        path=path,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        algorithm=algorithm,
        hash_size=hash_size,
        digest=outcome.digest,
        problem=outcome.problem or "",
    )


def store_hashes(records: list[HashRecord]) -> None:
    """Hashes (and unreadable files' problems) into the similarity cache, keyed by the file's size and mtime."""
    from imageworks.similarity.cache import Fingerprint, SimilarityCache

    by_config: dict[tuple[str, int], list[HashRecord]] = {}
    for record in records:
        if record.status == "ok" and record.algorithm:
            by_config.setdefault((record.algorithm, record.hash_size), []).append(record)
    if not by_config:
        return
    with SimilarityCache() as cache:
        for (algorithm, hash_size), group in by_config.items():
            cache.store_hashes(
                [Fingerprint(r.path, r.size, r.mtime_ns) for r in group],
                [(r.digest, r.problem or None) for r in group],
                algorithm,
                hash_size,
            )


class HashKind(CpuKind):
    name = "hash"
    record_type = HashRecord

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        path_items(items, self.name)
        return msgspec.to_builtins(self.prepare(params))

    def prepare(self, params: dict[str, Any]) -> HashParams:
        return convert_params(params, HashParams, f"{self.name} job")

    def run_item(self, item: dict[str, Any], plan: HashParams, progress: ItemProgress) -> HashRecord:
        return hash_record(item["path"], plan.algorithm, plan.hash_size)

    def store(self, done: list[tuple[dict[str, Any], JobRecord]], plan: Any) -> None:
        store_hashes([record for _, record in done if isinstance(record, HashRecord)])


# ---- similar: list the folders, hash what the cache lacks (items), then search and store (conclude) ---------------


class SimilarParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a client asks (its own config resolved: the daemon's may differ)."""

    root: str
    against: str = ""
    """A library folder: link ``root``'s images only with the library images they resemble."""
    method: Literal["hash", "embedding", "both"] = "hash"
    floor: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.82
    """The threshold the neighbours are searched at (any threshold at or above it re-groups from them)."""
    settings: SimilarityConfig = SimilarityConfig()
    filters: dict[str, Any] = {}
    """``ScanFilter`` fields selecting the folder's images (the TUI's size and type filters)."""
    ttl: float | None = None
    follow_symlinks: bool | None = None
    refresh: bool = False

    @property
    def scope(self) -> str:
        """What the stored search is of (with ``search_key``, its key in the similarity cache)."""
        return self.root + (f" -> {self.against}" if self.against else "")


def similar_params(root: str, *, against: str = "", **fields: Any) -> dict[str, Any]:
    """The params of a similar job (folders made absolute, as the scan cache keys them)."""
    from imageworks.scan.rows import root_key

    plan = SimilarParams(root=root_key(root), against=root_key(against) if against else "", **fields)
    return msgspec.to_builtins(plan)


class SimilarKind(HashKind):
    """``similar``: params ``SimilarParams``, no items at submit. When the job starts, the daemon lists the folders
    (the scan cache, walked if stale) and makes one ``hash`` item per image the similarity cache has no hash of (a
    folder hashed before has none: nothing is hashed twice); once they are hashed, ``conclude`` embeds (the embed
    slot) and searches neighbours, stores the search and leaves a ``SimilarOutcome``; ``similar.groups`` then groups
    at any threshold at or above the floor. Two clients asking for the same search at once share one job."""

    name = "similar"

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        if items:
            raise BadJobParams("similar job: name the folder as params.root, not as items")
        plan = self.prepare(params)
        if plan.method != "hash":
            if not plan.settings.embedding_model:
                raise BadJobParams(needs_model(plan.method))
            from imageworks.similarity.slot_embeddings import checkpoint_revision, model_key

            try:
                checkpoint_revision(model_key(plan.settings.embedding_model))
            except ImageWorksError as exc:
                raise BadJobParams(str(exc)) from None
        return msgspec.to_builtins(plan)

    def share_key(self, params: dict[str, Any]) -> str:
        plan = self.prepare(params)
        return json.dumps(msgspec.to_builtins(msgspec.structs.replace(plan, refresh=False)), sort_keys=True)

    def prepare(self, params: dict[str, Any]) -> SimilarParams:  # type: ignore[override]
        return convert_params(params, SimilarParams, f"{self.name} job")

    def run_item(self, item: dict[str, Any], plan: SimilarParams, progress: ItemProgress) -> HashRecord:  # type: ignore[override]
        return hash_record(item["path"], plan.settings.algorithm, plan.settings.hash_size)

    def plan_items(self, plan: SimilarParams) -> list[dict[str, Any]]:
        from imageworks.similarity.cache import SimilarityCache
        from imageworks.similarity.search import fingerprints

        listing = folder_listing(plan, refresh=plan.refresh)
        if plan.method == "embedding":
            return []
        files, _ = fingerprints([*listing.photos, *listing.library])
        with SimilarityCache() as cache:
            known = cache.cached_hashes(files, plan.settings.algorithm, plan.settings.hash_size)
        return [{"path": f.path} for f in files if f.path not in known]

    def conclude(self, plan: SimilarParams, job_id: str, context: ConcludeContext) -> SimilarOutcome:
        from imageworks.similarity.cache import SimilarityCache
        from imageworks.similarity.search import find_similar, search_key
        from imageworks.similarity.slot_embeddings import SlotEmbeddings

        listing = folder_listing(plan, refresh=False)
        source = SlotEmbeddings(plan.settings.embedding_model, context) if plan.method != "hash" else None
        context.progress(0, 0, "searching neighbours")
        with SimilarityCache() as cache:
            result = find_similar(
                listing.photos,
                against=listing.library if plan.against else None,
                method=plan.method,
                threshold=plan.floor,
                settings=plan.settings,
                cache=cache,
                embeddings=source,
                scope=plan.scope,
                progress=lambda done, total, what="hashing": context.progress(done, total, what),
                hash_workers=1,  # the pool hashed the folder; only files changed since are left, hashed here
            )
        return SimilarOutcome(
            method=result.method,
            floor=result.threshold,
            images=result.images,
            skipped=len(result.skipped),
            raw_left_out=listing.raw,
            hashed=result.hashed,
            embedded=result.embedded,
            searched=result.searched,
            search_key=search_key(plan.method, plan.settings, source, plan.scope, against=bool(plan.against)),
        )


def threshold_step(method: str, hash_size: int) -> float:
    """The smallest threshold change that can change the groups: hash scores are ``1 − distance/bits``, so they
    move one bit at a time; embedding scores (and the better of both) are continuous: 0.01."""
    return 1.0 / (hash_size * hash_size) if method == "hash" else 0.01


def needs_model(method: str) -> str:
    return (
        f"--method {method} needs an embedding model: set [similarity] embedding_model in the config "
        "(or IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL), or use --method hash"
    )


class Listing(msgspec.Struct, frozen=True):
    photos: list[str]
    library: list[str]
    raw: int
    """RAW files left out (no decoder for their pixels)."""


def folder_listing(plan: SimilarParams, *, refresh: bool) -> Listing:
    """The images of the folder (and of the library) from the scan cache, walked when stale: in the daemon, the
    cache's one writer."""
    from imageworks.scan import ScanCache, ScanFilter

    filters = msgspec.convert(plan.filters, ScanFilter)
    photos: list[str] = []
    library: list[str] = []
    raw = 0
    with ScanCache() as cache:
        for root, into in ((plan.root, photos), (plan.against, library)):
            if not root:
                continue
            # a watched root's rows are current (the daemon let its watcher catch up before it queued the job)
            cache.scan(root, ttl=plan.ttl, refresh=refresh, follow_symlinks=plan.follow_symlinks, trust_watch=True)
            entries = cache.query(root, filters)
            into.extend(e.path for e in entries if not e.is_raw)
            raw += sum(e.is_raw for e in entries)
    return Listing(photos, library, raw)
