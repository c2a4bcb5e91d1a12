"""Perceptual hashes (imagehash) from cheap decodes, spread over all cores.

A perceptual hash looks at a 32×32 (phash) or 9×8 (dhash) thumbnail, so decoding 1600×1200 pixels first is waste:
JPEG files are decoded at 1/2..1/8 scale straight to greyscale (``Image.draft``: DCT scaling inside libjpeg), other
formats are shrunk with ``Image.reduce`` (box averaging) before imagehash's own resize.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Literal, NamedTuple

import imagehash
import numpy as np
from PIL import Image

Algorithm = Literal["phash", "dhash"]
ALGORITHMS: tuple[Algorithm, ...] = ("phash", "dhash")

POOL_MIN_FILES = 32
"""Fewer files than this are hashed in-process: starting workers would cost more than it saves."""
CHUNK = 16
"""Files per task sent to a worker (amortises the pickling round trip, still balances the cores)."""


class HashOutcome(NamedTuple):
    """One file's packed hash, or None and a one-line reason the file was skipped."""

    digest: bytes | None
    problem: str | None = None


def hash_bits(hash_size: int) -> int:
    """Bits in a hash of this size (both algorithms: hash_size²)."""
    return hash_size * hash_size


def hash_bytes(hash_size: int) -> int:
    """Bytes a packed hash takes: its bits rounded up to whole 64-bit words (zero padding never adds distance)."""
    return -(-hash_bits(hash_size) // 64) * 8


def _decode_side(algorithm: Algorithm, hash_size: int) -> int:
    # twice what imagehash resizes to, so its LANCZOS step still averages over real pixels
    return 2 * (hash_size * 4 if algorithm == "phash" else hash_size + 1)


def open_small(path: str, side: int) -> Image.Image:
    """The image in greyscale, decoded or reduced so its shorter side is at least ``side`` and below ``2 * side``
    where the source allows."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("L", (side, side))
        small = img.convert("L")
    factor = min(small.size) // side
    return small.reduce(factor) if factor >= 2 else small


def hash_image(path: str, algorithm: Algorithm = "phash", hash_size: int = 8) -> bytes:
    """The packed perceptual hash of one image (``hash_bytes(hash_size)`` bytes). Raises on unreadable files."""
    img = open_small(path, _decode_side(algorithm, hash_size))
    image_hash = imagehash.phash(img, hash_size) if algorithm == "phash" else imagehash.dhash(img, hash_size)
    packed = np.packbits(image_hash.hash.ravel()).tobytes()
    return packed.ljust(hash_bytes(hash_size), b"\0")


def hash_one(path: str, algorithm: Algorithm, hash_size: int) -> HashOutcome:
    """One file's hash or its one-line problem; never raises for a bad file."""
    try:
        if os.path.getsize(path) == 0:
            return HashOutcome(None, "empty file")
        return HashOutcome(hash_image(path, algorithm, hash_size))
    except Exception as exc:  # broken, truncated, vanished, not an image: skipped with a reason
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HashOutcome(None, f"cannot read image: {reason}")


def _hash_chunk(paths: Sequence[str], algorithm: Algorithm, hash_size: int) -> list[HashOutcome]:
    return [hash_one(p, algorithm, hash_size) for p in paths]


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver with this module preloaded: workers start as forks of a clean process (no parent threads or
    sockets copied) that already imported imagehash and scipy, so each costs milliseconds, not an import."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def hash_files(
    paths: Sequence[str],
    algorithm: Algorithm = "phash",
    hash_size: int = 8,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[HashOutcome]:
    """Hash every path (same order). ``workers``: processes to use (None = every core, in-process below
    ``POOL_MIN_FILES`` files). ``progress(done, total)`` is called as chunks finish."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown hash algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")
    total = len(paths)
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= POOL_MIN_FILES else 1
    chunks = [paths[i : i + CHUNK] for i in range(0, total, CHUNK)]
    out: list[HashOutcome] = []
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            out += _hash_chunk(chunk, algorithm, hash_size)
            if progress:
                progress(len(out), total)
        return out
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_pool_context()) as pool:
        for result in pool.map(_hash_chunk, chunks, [algorithm] * len(chunks), [hash_size] * len(chunks)):
            out += result
            if progress:
                progress(len(out), total)
    return out
