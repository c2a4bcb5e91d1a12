"""Near-duplicates and similar photos: perceptual hashes (cached), neighbour search without N×N, instant re-grouping.

    from imageworks.similarity import SimilarityCache, find_similar

    with SimilarityCache() as cache:                    # $XDG_CACHE_HOME/imageworks/similarity.sqlite3
        result = find_similar(paths, cache=cache)        # hashes new/changed files only; stores the neighbours
        again = find_similar(paths, cache=cache, threshold=0.9)   # re-groups from stored pairs: no hashing

Each group is a reference photo (its best: the largest, then the sharpest) and the photos within the threshold of it
(``groups.py``): groups never chain.

Embeddings (``method="embedding"`` or ``"both"``) come from an ``EmbeddingSource``: in the daemon's ``similar`` jobs
(``jobs.py``) ``SlotEmbeddings`` asks its embed slot; vectors are cached per (model, revision, file) like hashes.
The CLI and the TUI never call these themselves: they submit ``similar`` jobs and ask for the groups.

The names below are imported on first use (PEP 562): ``imageworks.similarity.jobs``, which the kinds table imports
in every process that knows the job kinds (the TUI too), pulls no numpy or imagehash in with the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imageworks.similarity.cache import Fingerprint, SimilarityCache
    from imageworks.similarity.groups import Bands, Group, Links, Pair, group, groups_from_links
    from imageworks.similarity.hashing import ALGORITHMS, hash_files, hash_image
    from imageworks.similarity.neighbours import Neighbours
    from imageworks.similarity.quality import Quality
    from imageworks.similarity.search import (
        METHODS,
        EmbeddingSource,
        SimilarityError,
        SimilarityResult,
        Skipped,
        find_similar,
        vectors_for,
    )
    from imageworks.similarity.slot_embeddings import SlotEmbeddings

_HOME = {
    **dict.fromkeys(["Fingerprint", "SimilarityCache"], "cache"),
    "SlotEmbeddings": "slot_embeddings",
    **dict.fromkeys(["Bands", "Group", "Links", "Pair", "group", "groups_from_links"], "groups"),
    **dict.fromkeys(["ALGORITHMS", "hash_files", "hash_image"], "hashing"),
    "Neighbours": "neighbours",
    "Quality": "quality",
    **dict.fromkeys(
        ["METHODS", "EmbeddingSource", "SimilarityError", "SimilarityResult", "Skipped", "find_similar", "vectors_for"],
        "search",
    ),
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "ALGORITHMS",
    "METHODS",
    "Bands",
    "EmbeddingSource",
    "Fingerprint",
    "Group",
    "Links",
    "Neighbours",
    "Pair",
    "Quality",
    "SimilarityCache",
    "SimilarityError",
    "SimilarityResult",
    "Skipped",
    "SlotEmbeddings",
    "find_similar",
    "group",
    "groups_from_links",
    "hash_files",
    "hash_image",
    "vectors_for",
]
