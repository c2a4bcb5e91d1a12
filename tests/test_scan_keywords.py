"""The library's own keywords in the scan cache: read once per file, read again when the file changes, and a removed
file's keywords no longer count."""

from __future__ import annotations

import os

from PIL import Image

from imageworks import metadata as md
from imageworks.scan import ScanCache


def tagged_photo(path, keywords: list[str]) -> None:
    Image.new("RGB", (16, 16), (20, 40, 60)).save(path)
    if keywords:
        md.apply(md.plan(str(path), md.Proposed(keywords=keywords), "overwrite"), backup=False)


def test_keywords_are_read_once_and_again_when_the_file_changes(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    tagged_photo(lib / "a.jpg", ["Animals|Dog", "beach"])
    tagged_photo(lib / "b.jpg", ["beach"])
    tagged_photo(lib / "c.jpg", [])
    with ScanCache(tmp_path / "scan.sqlite3") as cache:
        cache.scan(lib)
        assert cache.ensure_keywords(lib) == 3
        assert cache.ensure_keywords(lib) == 0  # nothing changed: nothing read
        found = cache.library_keywords()
        assert found.flat == {"Animals": 1, "Dog": 1, "beach": 2}
        assert found.hierarchical == {"Animals|Dog": 1, "beach": 2}
        assert cache.roots_holding(str(lib / "a.jpg")) == [str(lib)]

        tagged_photo(lib / "b.jpg", ["sea"])
        st = os.stat(lib / "b.jpg")
        os.utime(lib / "b.jpg", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new mtime the walk sees
        (lib / "a.jpg").unlink()
        cache.scan(lib, refresh=True)
        assert cache.library_keywords([str(lib)]).flat == {}  # stale reads do not count before a read
        assert cache.ensure_keywords(lib) == 1
        assert cache.library_keywords([str(lib)]).flat == {"sea": 1}
