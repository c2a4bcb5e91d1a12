"""The scan's "already tagged?" probe: the last release's (pyexiv2's public per-path readers) against today's (the
metadata package's raw-table reader with exiv2 reading the file itself) and against reading each whole photo
(``metadata.read``, what the writer does), side by side on the same files.

Usage: python bench/probe.py [--files 200] [--megapixels 12] [--repeat 3] [--dir /tmp]

Writes one JPEG of the given size, copies it ``--files`` times (half of them tagged with keywords, one in ten with
Latin-1 IPTC keywords and no charset, as older tools wrote them), then probes every file with each method in
``--repeat`` interleaved rounds (the machine's changing load hits all alike). The page cache is warm (the files were
just written): the figures are CPU per file, the part a probe of a cached library pays. The files are deleted at the
end. Prints ms per file (median of rounds) and ratios, and how many files each method could not read.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyexiv2
from PIL import Image

from imageworks import metadata as md
from imageworks.config import MetadataConfig
from imageworks.scan.probe import has_metadata

XMP_KEYS = ("Xmp.dc.subject", "Xmp.dc.title", "Xmp.dc.description")
IPTC_KEYS = ("Iptc.Application2.Keywords", "Iptc.Application2.Caption")


def last_release_probe(path: str) -> bool:
    """What the probe did before: pyexiv2's public readers, which decode every value as UTF-8."""
    with pyexiv2.Image(path) as image:
        xmp, iptc = image.read_xmp(), image.read_iptc()
    return any(xmp.get(k) for k in XMP_KEYS) or any(iptc.get(k) for k in IPTC_KEYS)


def whole_file_read(path: str) -> bool:
    return md.read(path, options=MetadataConfig()).tagged


def make_files(folder: Path, n: int, megapixels: float) -> list[str]:
    side = int((megapixels * 1e6 / 1.5) ** 0.5)
    base = folder / "base.jpg"
    size = (int(side * 1.5), side)
    noise = [Image.effect_noise(size, 40) for _ in range(3)]  # grain: a photo's size on disk, not a gradient's
    Image.merge("RGB", noise).save(base, quality=92)
    paths = []
    for i in range(n):
        path = folder / f"IMG_{i:05d}.jpg"
        shutil.copyfile(base, path)
        paths.append(str(path))
    for tagged in paths[::2]:
        with pyexiv2.Image(tagged) as image:
            image.modify_xmp({"Xmp.dc.subject": ["beach", "sea"]})
    legacy = paths[1::10]
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", "-charset", "iptc=Latin1", "-IPTC:Keywords=Müller", *legacy],
        check=True,
    )
    return paths


def run(method: Callable[[str], bool], paths: list[str]) -> tuple[float, int]:
    unreadable = 0
    start = time.perf_counter()
    for path in paths:
        try:
            method(path)
        except Exception:
            unreadable += 1
    return time.perf_counter() - start, unreadable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="iw-probe-", dir=args.dir))
    try:
        paths = make_files(folder, args.files, args.megapixels)
        size = Path(paths[0]).stat().st_size
        print(f"{len(paths)} JPEGs of {args.megapixels:g} MP ({size / 1e6:.1f} MB each) in {folder}")
        methods = {
            "last release (pyexiv2 public readers)": last_release_probe,
            "today (metadata reader, exiv2 reads the file)": has_metadata,
            "whole file (metadata.read)": whole_file_read,
        }
        times: dict[str, list[float]] = {name: [] for name in methods}
        failed: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, method in methods.items():
                seconds, failed[name] = run(method, paths)
                times[name].append(seconds)
        today = statistics.median(times["today (metadata reader, exiv2 reads the file)"])
        for name in methods:
            median = statistics.median(times[name])
            print(
                f"{name:48} {median / len(paths) * 1e3:7.3f} ms/file  {median / today:5.2f}x today"
                f"  unreadable {failed[name]}"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
