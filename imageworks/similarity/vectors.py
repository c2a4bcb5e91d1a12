"""Nearest neighbours of L2-normalised vectors (image embeddings) by blocked matrix products, never N×N in memory;
beyond ``ANN_ABOVE`` rows through an approximate index instead (``ann.py``).

Embeddings arrive as float16 (n, d) arrays; each block of query rows is multiplied in float32 (numpy has no float16
BLAS) with the base, the pairs at or above the floor are taken out and the block's scores dropped. Within one set
only the upper triangle is computed (a block against the rows from its own start on), which halves the work. Peak
memory is the float32 copy plus one block of scores (``BLOCK_SCORES`` floats): 100 000 × 768 stays under 1 GB.
"""

from __future__ import annotations

import numpy as np

from imageworks.similarity.neighbours import Neighbours

BLOCK_SCORES = 16 * 1024 * 1024
"""Scores held at once (64 MB of float32): the block height is this divided by the base size."""
DENSE_HITS_PER_ROW = 4
"""A block with more hits than this × top_k per row keeps only each row's and column's top-k (a dense cluster)."""
ANN_ABOVE = 200_000
"""Rows searched (queries plus base) above which the approximate index is used. The exact search's time grows with the
square of the rows, the index's about linearly: on 2 busy cores and random 768-d vectors (the index's worst case) the
exact one is still the faster at 50 000 (32 s against 258 s; bench/RESULTS.md), by extrapolation up to roughly
500 000; 200 000 × 768 is the largest library we size the exact search for (its float32 copy, 600 MB, still fits)."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    out = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def vector_neighbours(
    queries: np.ndarray,
    base: np.ndarray | None,
    min_score: float,
    top_k: int,
    *,
    block_scores: int = BLOCK_SCORES,
    ann_above: int = ANN_ABOVE,
) -> Neighbours:
    """Pairs scored by cosine at or above ``min_score``, each among the ``top_k`` best of one of its rows. Rows are
    expected L2-normalised. Within one set (``base`` None) a row is not its own neighbour and indices are the
    queries'; against a base, base indices follow the queries' (``len(queries) + j``). Above ``ann_above`` rows in
    all the pairs come from an approximate index (exact scores; a pair it misses is lost)."""
    same = base is None
    queries32 = np.asarray(queries, np.float32)
    base32 = queries32 if same else np.asarray(base, np.float32)
    if len(queries32) == 0 or len(base32) == 0:
        return Neighbours.empty()
    if len(queries32) + (0 if same else len(base32)) > ann_above:
        from imageworks.similarity.ann import ann_neighbours  # usearch, only for sets this big (see ann.py)

        return ann_neighbours(queries32, None if same else base32, min_score, top_k)
    rows = max(1, block_scores // len(base32))
    floor = np.float32(min_score)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, len(queries32), rows):
        block = queries32[start : start + rows]
        first_col = start if same else 0
        scores = block @ base32[first_col:].T
        if same:
            scores[np.arange(len(block)), np.arange(len(block))] = -np.inf
        hits = scores >= floor
        if np.count_nonzero(hits) <= DENSE_HITS_PER_ROW * top_k * len(block):
            r, c = np.nonzero(hits)
        else:
            r, c = _rows_and_columns_top_k(scores, top_k)
        s = scores[r, c]
        keep = s >= floor
        offset = first_col if same else len(queries32)
        found.append((r[keep] + start, c[keep] + offset, s[keep]))
    a, b, s = (np.concatenate(part) for part in zip(*found, strict=True))
    return Neighbours.from_pairs(a, b, np.minimum(s, 1.0), top_k)


def _rows_and_columns_top_k(scores: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells that are among the top_k of their row or of their column: every pair that can be some image's
    top-k overall (a neighbour in the global top-k is in the top-k of any subset holding it)."""
    n_rows, n_cols = scores.shape
    kr, kc = min(top_k, n_cols), min(top_k, n_rows)
    row_best = np.argpartition(scores, -kr, axis=1)[:, -kr:]
    col_best = np.argpartition(scores, -kc, axis=0)[-kc:, :]
    r = np.concatenate([np.repeat(np.arange(n_rows), kr), col_best.ravel()])
    c = np.concatenate([row_best.ravel(), np.tile(np.arange(n_cols), kc)])
    return r, c
