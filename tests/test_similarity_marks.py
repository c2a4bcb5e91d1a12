"""The similarity additions the TUI's Similar mode stands on: re-grouping from groups already found, keep/reject marks
persisted in the state dir, and moving rejects (with sidecars, never overwriting, never deleting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imageworks.similarity import Bands, Links, SimilarityCache, find_similar
from imageworks.similarity.groups import groups_from_links, links_of
from imageworks.similarity.marks import MarkStore, marks_db
from imageworks.similarity.moves import move_to_folder

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("photos")
    out = []
    for name in ("astronaut", "chelsea", "coffee"):
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        w, h = img.size
        img.save(folder / f"{name}.jpg", quality=92)
        img.resize((w // 2, h // 2)).save(folder / f"{name}_small.jpg", quality=85)
        img.crop((w // 25, h // 25, w - w // 25, h - h // 25)).save(folder / f"{name}_crop.jpg", quality=60)
        out += [str(folder / f"{name}{s}.jpg") for s in ("", "_small", "_crop")]
    return sorted(out)


def links_at(photos: list[str], floor: float) -> Links:
    """What ``similar.groups`` hands a client: the links of the stored search at ``floor``."""
    with SimilarityCache() as cache:
        find_similar(photos, cache=cache, threshold=floor)
        (scope,) = [row[0] for row in cache._con.execute("SELECT scope FROM neighbours")]
        stored = cache.load_search(scope, None)
    assert stored is not None
    return links_of(stored.paths, stored.neighbours, floor, stored.quality)


@pytest.mark.parametrize("threshold", [0.82, 0.85, 0.9, 0.95, 0.99])
def test_regroup_from_the_links_found_equals_a_fresh_grouping(photos: list[str], xdg: dict, threshold: float) -> None:
    links = links_at(photos, 0.7)
    with SimilarityCache() as cache:
        fresh = find_similar(photos, cache=cache, threshold=threshold)
        assert cache.hashes_computed == 0  # every hash came from the first search
    assert groups_from_links(links, threshold, Bands()) == fresh.groups


def test_regroup_leaves_out_images_and_drops_groups_left_alone(photos: list[str], xdg: dict) -> None:
    links = links_at(photos, 0.7)
    found = groups_from_links(links, 0.7, Bands())
    astronaut = next(g for g in found if any("astronaut" in p for p in g.paths))
    assert astronaut.reference.endswith("astronaut.jpg")  # the full-size original
    gone = frozenset(p for p in astronaut.paths if not p.endswith("astronaut.jpg"))
    after = groups_from_links(links, 0.7, Bands(), without=gone)
    assert all(not any("astronaut" in p for p in g.paths) for g in after)
    assert len(after) == len(found) - 1


def test_marks_persist_in_the_state_dir_and_follow_a_move(tmp_path: Path, xdg: dict[str, Path]) -> None:
    a, b = str(tmp_path / "a.jpg"), str(tmp_path / "b\udcff.jpg")  # a name that is not UTF-8
    with MarkStore() as store:
        store.set(a, "keep")
        store.set(b, "reject")
        store.set(a, "reject")
    assert marks_db().is_relative_to(xdg["state"])
    with MarkStore() as store:
        assert store.marks_of([a, b, "other"]) == {a: "reject", b: "reject"}
        store.set(a, None)
        store.moved([(b, "/elsewhere/b.jpg")])
        assert store.marks_of([a, b, "/elsewhere/b.jpg"]) == {"/elsewhere/b.jpg": "reject"}
        with pytest.raises(ValueError):
            store.set(a, "maybe")  # type: ignore[arg-type]


def test_move_to_folder_moves_sidecars_never_overwrites_and_reports_failures(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "lib-rejects"
    lib.mkdir()
    for name in ("x.jpg", "y.jpg"):
        Image.new("RGB", (8, 8), "red").save(lib / name)
    (lib / "x.jpg.xmp").write_text("<x/>")
    out.mkdir()
    (out / "x.jpg").write_bytes(b"already here")
    report = move_to_folder([str(lib / "x.jpg"), str(lib / "y.jpg"), str(lib / "gone.jpg")], out)
    assert report.moved == [(str(lib / "x.jpg"), str(out / "x-2.jpg")), (str(lib / "y.jpg"), str(out / "y.jpg"))]
    assert [Path(p).name for p, _ in report.failed] == ["gone.jpg"]
    assert (out / "x.jpg").read_bytes() == b"already here"
    assert (out / "x-2.jpg.xmp").read_text() == "<x/>"
    assert sorted(p.name for p in lib.iterdir()) == []


def test_every_sidecar_form_moves_with_its_photo_under_one_new_stem(tmp_path: Path) -> None:
    lib, out = tmp_path / "lib", tmp_path / "lib-rejects"
    lib.mkdir()
    out.mkdir()
    for name in ("a.jpg", "twin.jpg", "IMG_1.CR2"):
        (lib / name).write_bytes(name.encode())
    (lib / "a.jpg.xmp").write_text("name form")
    (lib / "a.XMP").write_text("stem form, upper case")
    (lib / "twin.xmp").write_text("the RAW twin's")  # twin.CR2 stays: its sidecar is not twin.jpg's
    (lib / "twin.CR2").write_bytes(b"raw")
    (lib / "IMG_1.xmp").write_text("lightroom")
    (lib / "IMG_1.CR2.xmp").write_text("darktable")
    (out / "a.jpg").write_bytes(b"photo name taken")
    (out / "a-2.XMP").write_text("a sidecar name of -2 taken")  # so the pair takes -3, all of it
    report = move_to_folder([str(lib / n) for n in ("a.jpg", "twin.jpg", "IMG_1.CR2")], out)
    assert report.failed == []
    assert [Path(to).name for _, to in report.moved] == ["a-3.jpg", "twin.jpg", "IMG_1.CR2"]
    assert (out / "a-3.jpg.xmp").read_text() == "name form" and (out / "a-3.XMP").read_text() == "stem form, upper case"
    assert (out / "a.jpg").read_bytes() == b"photo name taken" and (out / "a-2.XMP").read_text().startswith("a sid")
    assert (out / "IMG_1.xmp").read_text() == "lightroom" and (out / "IMG_1.CR2.xmp").read_text() == "darktable"
    assert sorted(p.name for p in lib.iterdir()) == ["twin.CR2", "twin.xmp"]


def test_put_back_refuses_a_changed_sidecar_or_a_move_it_cannot_check(tmp_path: Path) -> None:
    import msgspec

    from imageworks.jobs.records import MoveRecord
    from imageworks.similarity.moves import UndoItem, move_photo, put_back, undo_item

    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    (lib / "a.jpg").write_bytes(b"photo")
    (lib / "a.jpg.xmp").write_text("<x/>")
    moved = move_photo(str(lib / "a.jpg"), out)
    (out / "a.jpg.xmp").write_text("<x>edited in darktable</x>")  # the pair stays together where it is
    refused = put_back(msgspec.convert(undo_item(moved), UndoItem))
    assert refused.status == "error" and (refused.error or "").endswith(f"{out / 'a.jpg.xmp'} changed since the move")
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "a.jpg.xmp"] and list(lib.iterdir()) == []
    old = MoveRecord(status="ok", path=str(lib / "a.jpg"), to=str(out / "a.jpg"))  # journaled before sizes were kept
    assert "whether it changed since is unknown" in (put_back(msgspec.convert(undo_item(old), UndoItem)).error or "")
    assert (out / "a.jpg").exists()
