"""Scored pairs of images, each image keeping its top-k: what the searches return and the cache stores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Neighbours:
    """Undirected pairs ``(a[i], b[i])`` with ``score[i]`` on one 0..1 scale (hash: 1 − distance/bits; vectors:
    cosine), ``a < b``, each pair once. Indices point into the caller's list of images."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def empty(cls) -> Neighbours:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))

    @classmethod
    def from_pairs(cls, a: np.ndarray, b: np.ndarray, score: np.ndarray, top_k: int) -> Neighbours:
        """Keep a pair when it is among the ``top_k`` best of either of its images; order each pair and drop
        repeats (a pair found twice keeps its best score)."""
        a, b, score = np.asarray(a, np.int64), np.asarray(b, np.int64), np.asarray(score, np.float32)
        if len(a) == 0:
            return cls.empty()
        # each undirected pair once, with its best score (it may come from both ends, or from two searches)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        order = np.lexsort((-score, hi, lo))
        lo, hi, score = lo[order], hi[order], score[order]
        unique = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
        lo, hi, score = lo[unique], hi[unique], score[unique]
        # rank each pair from both ends, best first; it stays if either end ranks it below top_k
        src = np.concatenate([lo, hi])
        order = np.lexsort((np.concatenate([hi, lo]), -np.concatenate([score, score]), src))
        src = src[order]
        first = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        rank = np.empty(len(src), np.int64)
        rank[order] = np.arange(len(src)) - np.repeat(first, np.diff(np.r_[first, len(src)]))
        keep = (rank[: len(lo)] < top_k) | (rank[len(lo) :] < top_k)
        return cls(lo[keep], hi[keep], score[keep])

    def at_least(self, threshold: float) -> Neighbours:
        keep = self.score >= np.float32(threshold)
        return Neighbours(self.a[keep], self.b[keep], self.score[keep])

    def best_of(self, other: Neighbours, top_k: int) -> Neighbours:
        """The union of two searches over the same images, each pair scored by the better of the two."""
        return Neighbours.from_pairs(
            np.concatenate([self.a, other.a]),
            np.concatenate([self.b, other.b]),
            np.concatenate([self.score, other.score]),
            top_k,
        )

    def to_bytes(self) -> bytes:
        """int32 a, int32 b, float32 score, back to back (``from_bytes`` reads them)."""
        return self.a.astype("<i4").tobytes() + self.b.astype("<i4").tobytes() + self.score.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Neighbours:
        n = len(blob) // 12
        arr = np.frombuffer(blob, np.uint8)
        a = arr[: 4 * n].view("<i4").astype(np.int64)
        b = arr[4 * n : 8 * n].view("<i4").astype(np.int64)
        return cls(a, b, arr[8 * n :].view("<f4").astype(np.float32))
