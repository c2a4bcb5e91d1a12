"""The C lister (imageworks/scan/_listdir.c) lists a directory exactly as the Python loop does (Walker's
``python-loop`` engine): the same records, subdirectories, links, counts and messages, names that are not plain
UTF-8 handed back to the Python loop, and mtimes rounded as ``mtime_ns_of`` rounds them."""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

import pytest

from imageworks.scan import walk
from imageworks.scan.records import mtime_ns_of


def walked(
    root: Path, engine: str, *, follow_symlinks: bool = False
) -> tuple[list[tuple[list[walk.Record], bool]], tuple[object, ...]]:
    walker = walk.Walker(str(root), engine=engine, follow_symlinks=follow_symlinks)
    batches = list(walker.batches())
    state = (walker.dirs, walker.skipped_dirs, walker.symlinks_skipped, walker.vanished, walker.error_count)
    return batches, (*state, walker.errors, sorted(walker._visited), sorted(walker._symlinks))


def test_the_c_lister_is_built_in_this_install() -> None:
    """`make setup` compiles it (pyproject.toml); an install without a compiler would list in Python, slower."""
    assert walk.LISTDIR is not None
    assert walk.Walker("/", engine="python").lister is walk.LISTDIR
    assert walk.Walker("/", engine="python-loop").lister is None


def test_c_and_python_listings_agree_on_an_awkward_tree(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    names = [
        "x.JPG",  # extensions in any case
        "y.jpeg",
        "e.PnG",
        "Ünïcode.Jpg",  # UTF-8 names: lower-cased by str.lower()
        "ΣΊΓΜΑ.JPG",
        "İstanbul.jpg",  # its lower case is two characters
        ".jpg",  # a name that is only an extension
        "z.",
        "noext",
        "d.txt",
        "a.b.tif",
    ]
    for i, name in enumerate(names):
        (root / "a" / name).write_bytes(b"x" * i)
    (root / "a" / "b" / "deep.tif").write_bytes(b"deep")
    os.symlink("a", root / "link")  # links are collected, not followed by default
    os.symlink("nowhere.jpg", root / "c" / "broken.jpg")
    os.mkfifo(root / "c" / "fifo.jpg")  # not a regular file
    (root / "c" / "sub.jpg").mkdir()  # a directory named like a photo
    with_c, with_loop = walked(root, "python"), walked(root, "python-loop")
    assert with_c == with_loop
    relpaths = sorted(r[0] for batch, _ in with_c[0] for r in batch)
    assert relpaths == sorted([f"a/{n}" for n in names if n not in ("z.", "noext", "d.txt")] + ["a/b/deep.tif"])
    by_path = {r[0]: r for batch, _ in with_c[0] for r in batch}
    assert by_path["a/İstanbul.jpg"][1] == "İstanbul.jpg".lower()
    assert by_path["a/ΣΊΓΜΑ.JPG"][1] == "σίγμα.jpg"


def test_a_directory_with_a_name_that_is_not_utf8_is_listed_by_the_python_loop(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "odd").mkdir(parents=True)
    (root / "odd" / "ok.jpg").write_bytes(b"1")
    with open(os.path.join(os.fsencode(root / "odd"), b"caf\xe9.jpg"), "wb") as fh:
        fh.write(b"22")
    (root / "fine.jpg").write_bytes(b"333")
    with_c, with_loop = walked(root, "python"), walked(root, "python-loop")
    assert with_c == with_loop
    batches = dict((tuple(sorted(r[0] for r in batch)), clean) for batch, clean in with_c[0])
    assert batches == {("fine.jpg",): True, ("odd/caf\udce9.jpg", "odd/ok.jpg"): False}


def test_mtimes_are_rounded_as_python_rounds_its_float(tmp_path: Path) -> None:
    """The cache compares a fresh ``os.stat`` through ``mtime_ns_of`` (round(st_mtime * 1e9)) with what the walk
    stored, so the C lister must give that number to the nanosecond, not ``st_mtime_ns``."""
    root = tmp_path / "lib"
    root.mkdir()
    stamps = [0, 1, 999_999_999, 1_700_000_000_123_456_789, 1_796_661_562_311_355_599, 2**41 * 10**9 + 5]
    stamps += [1_700_000_000_000_000_000 + k for k in range(0, 4000, 37)]
    for i, ns in enumerate(stamps):
        path = root / f"{i:04d}.jpg"
        path.write_bytes(b"")
        os.utime(path, ns=(ns, ns))
    records = {r[0]: r for batch, _ in walk.Walker(str(root), engine="python").batches() for r in batch}
    assert len(records) == len(stamps)
    differs = 0
    for rel, record in records.items():
        st = os.lstat(root / rel)
        assert record[4] == mtime_ns_of(st), rel
        differs += record[4] != st.st_mtime_ns
    assert differs  # the float rounding shows on some of these stamps: the test can tell the two apart


@pytest.mark.parametrize("seed", range(4))
def test_c_and_python_listings_agree_on_random_trees(tmp_path: Path, seed: int) -> None:
    """Random names (newlines, spaces, combining and case-changing letters, emoji, bytes that are not UTF-8, names of
    240 characters), links into loops and nowhere, FIFOs, mtimes up to 2^62 ns and a directory of thousands: walked
    both ways, with links followed and not."""
    rng = random.Random(seed)
    exts = ["jpg", "JPG", "Jpeg", "png", "TIFF", "nef", "cr3", "txt", "xmp", "", "jpgx", "dng", "ARW", "webp"]
    letters = ["a", "B", "é", "Ω", "İ", "ß", "\n", " ", "-", ".", "ｊ", "😀", "\u212a", "Σ"]

    def name() -> bytes:
        ext = rng.choice(exts)
        text = "".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) + (f".{ext}" if ext else "")
        roll = rng.random()
        return (
            text.encode() + b"\xff" if roll < 0.05 else f"{'x' * 240}.{ext}".encode() if roll < 0.08 else text.encode()
        )

    root = tmp_path / "lib"
    root.mkdir()
    dirs = [os.fsencode(root)]
    for _ in range(rng.randint(50, 300)):
        path = os.path.join(rng.choice(dirs), name())
        roll = rng.random()
        with contextlib.suppress(OSError):  # a name drawn twice
            if roll < 0.15:
                os.mkdir(path)
                dirs.append(path)
            elif roll < 0.2:
                os.symlink(rng.choice([b"..", b"nowhere", os.path.basename(path)]), path)
            elif roll < 0.22:
                os.mkfifo(path)
            else:
                with open(path, "wb") as fh:
                    fh.write(b"x" * rng.randint(0, 50))
                stamp = rng.randint(0, 2**62)
                os.utime(path, ns=(stamp, stamp))
    (root / "big").mkdir()
    for i in range(rng.randint(1000, 3000)):
        (root / "big" / f"f{i}.{rng.choice(exts)}").touch()
    for follow in (False, True):
        with_c = walked(root, "python", follow_symlinks=follow)
        assert with_c == walked(root, "python-loop", follow_symlinks=follow)
        assert with_c[0]  # the tree has images: the comparison is not of two empty walks
