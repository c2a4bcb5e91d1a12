"""Nearest neighbours of L2-normalised vectors through an approximate (HNSW) index, for sets too big to search
exactly in good time (``vectors.ANN_ABOVE``).

usearch (a wheel, no compiler) builds a cosine HNSW graph over one side, in float16 (half the memory of float32, and
the graph only has to rank candidates), and each row of the other side asks it for its nearest rows. The candidates
are then rescored exactly in float32, so scores agree with the blocked exact search; only which pairs are found is
approximate (a pair the graph misses is lost).
"""

from __future__ import annotations

# usearch's extension carries its own copy of libstdc++ (its codecvt facets among its exported symbols): loaded before
# exiv2, it takes over the conversion exiv2 writes Windows XP fields with, and every XPKeywords/XPTitle written by
# this process afterwards is empty. exiv2 loaded first keeps its own (tests/test_dependency_assumptions.py).
import numpy as np
import pyexiv2  # noqa: F401
from usearch.index import BatchMatches, Index

from imageworks.similarity.neighbours import Neighbours

CONNECTIVITY = 32
"""Graph edges per node (HNSW's M): more edges, better recall on high-dimensional embeddings, slower build."""
EXPANSION_ADD = 128
"""Candidates weighed while inserting a row (efConstruction)."""
EXPANSION_SEARCH = 128
"""Candidates weighed per query (ef): must be at least the number asked for."""
RESCORE_PAIRS = 32 * 1024
"""Pairs rescored at once: their two gathered float32 rows (2 × 768 × 4 bytes each) stay near 200 MB."""


def ann_neighbours(queries: np.ndarray, base: np.ndarray | None, min_score: float, top_k: int) -> Neighbours:
    """Same contract as ``vectors.vector_neighbours`` (float32 rows, L2-normalised), found through an index.

    Within one set every row asks for ``top_k + 1`` rows (itself among them). Against a base both sides are indexed
    and each asks the other, because the exact search keeps a pair that is among the top-k of either end."""
    if len(queries) == 0 or (base is not None and len(base) == 0):
        return Neighbours.empty()
    if base is None:
        a, b = _candidates(_index(queries), queries, top_k + 1)
        keep = a != b
        a, b = a[keep], b[keep]
        s = _rescore(queries, queries, a, b)
    else:
        qa, qb = _candidates(_index(base), queries, top_k)
        ba, bb = _candidates(_index(queries), base, top_k)
        a, b = np.concatenate([qa, bb]), np.concatenate([qb, ba])  # query index first, base index second
        s = _rescore(queries, base, a, b)
        b = b + len(queries)
    keep = s >= np.float32(min_score)
    return Neighbours.from_pairs(a[keep], b[keep], np.minimum(s[keep], 1.0), top_k)


def _index(rows: np.ndarray) -> Index:
    index = Index(
        ndim=rows.shape[1],
        metric="cos",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )
    index.add(np.arange(len(rows), dtype=np.uint64), rows)
    return index


def _candidates(index: Index, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, indexed row) for each row's ``k`` nearest in the index; short answers leave unused slots out."""
    k = min(k, len(index))
    found = index.search(rows, k)
    assert isinstance(found, BatchMatches)  # rows is 2-D: one answer per row
    keys, counts = found.keys.reshape(len(rows), k), np.asarray(found.counts).reshape(len(rows))
    valid = np.arange(k)[None, :] < counts[:, None]
    row = np.repeat(np.arange(len(rows), dtype=np.int64), k).reshape(len(rows), k)
    return row[valid], keys[valid].astype(np.int64)


def _rescore(left: np.ndarray, right: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact float32 cosine of each pair ``(left[a], right[b])``, in slices so the gathered rows stay small."""
    out = np.empty(len(a), np.float32)
    for start in range(0, len(a), RESCORE_PAIRS):
        part = slice(start, start + RESCORE_PAIRS)
        out[part] = np.einsum("ij,ij->i", left[a[part]], right[b[part]])
    return out
