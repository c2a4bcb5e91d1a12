"""Nearest neighbours of L2-normalised vectors (image embeddings) by blocked matrix products, never N×N in memory.

Embeddings arrive as float16 (n, d) arrays; each block of query rows is multiplied with the whole base in float32
(numpy has no float16 BLAS), its top-k kept, the block's score matrix dropped. Peak memory is the float32 base plus
one block of scores (``BLOCK_SCORES`` floats): 100 000 × 768 takes ~0.6 GB.
"""

from __future__ import annotations

import numpy as np

from imageworks.similarity.neighbours import Neighbours

BLOCK_SCORES = 32 * 1024 * 1024
"""Scores held at once (128 MB of float32): the block height is this divided by the base size."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    out = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def vector_neighbours(
    queries: np.ndarray, base: np.ndarray | None, min_score: float, top_k: int, *, block_scores: int = BLOCK_SCORES
) -> Neighbours:
    """Each query's ``top_k`` most similar rows by cosine, kept at or above ``min_score``. Rows are expected
    L2-normalised. Within one set (``base`` None) a row is not its own neighbour and indices are the queries';
    against a base, base indices follow the queries' (``len(queries) + j``)."""
    same = base is None
    base32 = np.asarray(queries if same else base, np.float32)
    n_base = len(base32)
    k = min(top_k, n_base - 1 if same else n_base)
    if len(queries) == 0 or k <= 0:
        return Neighbours.empty()
    rows = max(1, block_scores // n_base)
    found_a: list[np.ndarray] = []
    found_b: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    for start in range(0, len(queries), rows):
        block = np.asarray(queries[start : start + rows], np.float32)
        scores = block @ base32.T
        if same:
            scores[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        best = np.argpartition(scores, -k, axis=1)[:, -k:]
        best_scores = np.take_along_axis(scores, best, axis=1)
        qi, col = np.nonzero(best_scores >= np.float32(min_score))
        found_a.append(qi + start)
        found_b.append(best[qi, col] + (0 if same else len(queries)))
        found_s.append(best_scores[qi, col])
    return Neighbours.from_pairs(np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s), top_k)
