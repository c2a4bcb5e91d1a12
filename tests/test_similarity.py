"""Similarity end to end on real photos (scikit-image's samples) and their near-copies: the cache, re-grouping,
--against, broken files and `imageworks similar`'s output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imageworks import config
from imageworks.cli import main
from imageworks.similarity import SimilarityCache, SimilarityError, find_similar, hash_files

data = pytest.importorskip("skimage.data")

PHOTOS = ("astronaut", "chelsea", "coffee", "camera", "rocket")


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def near_copies(name: str, folder: Path) -> list[Path]:
    """The original and three near-copies: half size, JPEG quality 15, 2 % cropped off each side (PNG)."""
    img = photo(name)
    w, h = img.size
    out = [
        folder / f"{name}.jpg",
        folder / f"{name}_small.jpg",
        folder / f"{name}_q15.jpg",
        folder / f"{name}_crop.png",
    ]
    img.save(out[0], quality=92)
    img.resize((w // 2, h // 2)).save(out[1], quality=85)
    img.save(out[2], quality=15)
    img.crop((w // 50, h // 50, w - w // 50, h - h // 50)).save(out[3])
    return out


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        near_copies(name, folder)
    (folder / "empty.jpg").write_bytes(b"")
    whole = (folder / "coffee.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    return folder


def images_in(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


def by_name(paths: list[str]) -> set[str]:
    return {Path(p).name for p in paths}


@pytest.fixture
def cache(xdg: dict[str, Path]) -> Iterator[SimilarityCache]:
    with SimilarityCache() as opened:
        yield opened


def test_near_copies_group_with_their_original_and_distinct_photos_stay_apart(
    library: Path, cache: SimilarityCache
) -> None:
    result = find_similar(images_in(library), cache=cache)
    assert result.method == "hash" and result.searched and result.hashed == 4 * len(PHOTOS) + 2
    groups = sorted(sorted(by_name(g.paths)) for g in result.groups)
    expected = sorted(sorted({f"{n}.jpg", f"{n}_small.jpg", f"{n}_q15.jpg", f"{n}_crop.png"}) for n in PHOTOS)
    assert groups == expected
    for g in result.groups:
        assert all(p.score >= 0.82 and p.a == g.reference for p in g.pairs) and g.best == max(p.score for p in g.pairs)
        assert g.weakest == min(p.score for p in g.pairs) and [p.b for p in g.pairs] == g.paths[1:]
        assert Path(g.reference).name.count("_") == 0  # the full-size original: larger than the small, sharper than q15
        # the label is the weakest member's: "duplicate" only when every copy is one (a 2 % crop may be "similar")
        assert g.verdict == ("duplicate" if g.weakest >= 0.92 else "similar")
    assert result.images == 4 * len(PHOTOS)


def test_broken_and_empty_files_are_reported_one_line_each_and_skipped(library: Path, cache: SimilarityCache) -> None:
    result = find_similar(images_in(library), cache=cache)
    problems = {Path(s.path).name: s.problem for s in result.skipped}
    assert set(problems) == {"empty.jpg", "truncated.jpg"}
    assert problems["empty.jpg"] == "empty file"
    assert problems["truncated.jpg"].startswith("cannot read image") and "\n" not in problems["truncated.jpg"]
    assert not any(Path(p).name in problems for g in result.groups for p in g.paths)


def test_a_changed_file_is_rehashed_and_unchanged_ones_are_not(tmp_path: Path, cache: SimilarityCache) -> None:
    for name in ("chelsea", "coffee"):
        near_copies(name, tmp_path)
    paths = images_in(tmp_path)
    assert find_similar(paths, cache=cache).hashed == 8
    assert find_similar(paths, cache=cache).hashed == 0
    photo("coffee").save(tmp_path / "chelsea_small.jpg", quality=90)  # same name, now a copy of another photo
    result = find_similar(paths, cache=cache)
    assert result.hashed == 1 and result.searched
    assert "chelsea_small.jpg" in by_name(next(g.paths for g in result.groups if "coffee.jpg" in by_name(g.paths)))
    assert cache.hashes_computed == 9


def test_a_new_threshold_regroups_from_stored_neighbours_without_hashing(library: Path, xdg: dict) -> None:
    paths = images_in(library)
    with SimilarityCache() as first:
        find_similar(paths, cache=first)
    with SimilarityCache() as cache:  # a new process would open the cache like this
        strict = find_similar(paths, cache=cache, threshold=0.99)
        assert not strict.searched and strict.hashed == 0 and cache.hashes_computed == 0
        assert all(p.score >= 0.99 for g in strict.groups for p in g.pairs)
        assert len(strict.groups) >= len(PHOTOS) - 1  # crops drop out of some groups, exact re-encodes stay
        # below the stored floor the neighbours are searched again, from cached hashes: still nothing hashed
        loose = find_similar(paths, cache=cache, threshold=0.7)
        assert loose.searched and loose.hashed == 0 and cache.hashes_computed == 0


def test_against_a_library_links_only_new_to_library_pairs(tmp_path: Path, cache: SimilarityCache) -> None:
    lib, new = tmp_path / "lib", tmp_path / "new"
    lib.mkdir()
    new.mkdir()
    for name in ("astronaut", "coffee", "camera"):
        photo(name).save(lib / f"{name}.jpg", quality=92)
    astro = photo("astronaut")
    astro.resize((256, 256)).save(new / "astro_small.jpg")
    astro.save(new / "astro_q15.jpg", quality=15)  # a copy of a copy: must not pair with astro_small directly
    photo("chelsea").save(new / "chelsea.jpg")  # nothing like it in the library
    result = find_similar(images_in(new), against=images_in(lib), cache=cache)
    assert [by_name(g.paths) for g in result.groups] == [{"astro_small.jpg", "astro_q15.jpg", "astronaut.jpg"}]
    for pair in result.groups[0].pairs:
        assert {Path(pair.a).parent, Path(pair.b).parent} == {lib, new}
    within = find_similar(images_in(new), cache=cache)
    assert [by_name(g.paths) for g in within.groups] == [{"astro_small.jpg", "astro_q15.jpg"}]


class PlantedEmbeddings:
    """Stands in for the daemon's embedding model: unit vectors keyed by path, one direction per photo."""

    model = "planted-test-vectors"
    revision = "1"

    def __init__(self, direction_of: dict[str, int], dim: int = 64) -> None:
        rng = np.random.default_rng(7)
        basis = rng.normal(size=(max(direction_of.values()) + 1, dim))
        self.vectors = {p: basis[i] + rng.normal(scale=0.05, size=dim) for p, i in direction_of.items()}
        self.calls = 0

    def embed(self, paths: Sequence[str]) -> list[tuple[np.ndarray | None, str | None]]:
        self.calls += 1
        rows = np.array([self.vectors[p] for p in paths])
        return [(row, None) for row in (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float16)]


def test_supplied_embeddings_group_by_cosine_and_both_takes_the_better_score(
    library: Path, cache: SimilarityCache
) -> None:
    paths = [p for p in images_in(library) if not p.endswith(("empty.jpg", "truncated.jpg"))]
    # the model "sees" chelsea and coffee as the same scene: only the embedding links them
    direction = {p: PHOTOS.index(Path(p).stem.split("_")[0]) % 4 for p in paths}
    source = PlantedEmbeddings(direction)
    by_vector = find_similar(paths, method="embedding", embeddings=source, cache=cache)
    assert by_vector.method == "embedding" and by_vector.hashed == 0 and source.calls == 1
    merged = {"astronaut", "rocket"}  # 0 and 4 % 4 == 0
    groups = sorted(sorted({Path(p).stem.split("_")[0] for p in g.paths}) for g in by_vector.groups)
    assert sorted(merged) in groups and len(groups) == 4
    both = find_similar(paths, method="both", embeddings=source, cache=cache)
    assert (
        both.method == "both"
        and sorted(sorted({Path(p).stem.split("_")[0] for p in g.paths}) for g in both.groups) == groups
    )
    assert source.calls == 1 and both.embedded == 0  # the vectors are cached: "both" asked for none
    again = find_similar(paths, method="embedding", embeddings=source, cache=cache, threshold=0.95)
    assert not again.searched and source.calls == 1  # stored: no new embedding request


def test_embedding_without_a_model_fails_with_one_clear_line(library: Path, cache: SimilarityCache) -> None:
    with pytest.raises(SimilarityError, match="needs an embedding model: set \\[similarity\\] embedding_model"):
        find_similar(images_in(library), method="both", cache=cache)


def test_the_process_pool_hashes_like_one_process(library: Path) -> None:
    paths = images_in(library)
    assert hash_files(paths, workers=2) == hash_files(paths, workers=1)


def test_algorithm_and_hash_size_come_from_config(library: Path, cache: SimilarityCache) -> None:
    cfg = config.load(environ={"IMAGEWORKS_SIMILARITY_ALGORITHM": "dhash", "IMAGEWORKS_SIMILARITY_HASH_SIZE": "16"})
    assert cfg.similarity.algorithm == "dhash" and cfg.similarity.hash_size == 16
    result = find_similar(images_in(library), settings=cfg.similarity, cache=cache)
    assert result.hashed == 4 * len(PHOTOS) + 2  # a new hash configuration is its own cache entry
    assert len(result.groups) == len(PHOTOS)
    rows = cache._con.execute(
        "SELECT DISTINCT algorithm, hash_size, length(digest) FROM hashes WHERE digest IS NOT NULL"
    )
    assert rows.fetchall() == [("dhash", 16, 32)]


# ---- the CLI -------------------------------------------------------------------------------------------------


def similar(*args: str) -> tuple[int, str, str]:
    """`imageworks similar` in-process (the daemon it asks is the test's: ``start_daemon``)."""
    result = CliRunner().invoke(main, ["similar", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_lists_groups_with_pairwise_scores_and_the_method_used(start_daemon, library: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    code, out, _ = similar(str(library), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {
        "against", "bands", "embedded", "groups", "hashed", "images", "method", "reference", "reference_rule", "root",
        "searched", "skipped", "threshold"
    }  # fmt: skip
    assert data["method"] == "hash" and data["threshold"] == 0.82 and data["against"] is None
    assert data["bands"] == {"duplicate": 0.92, "similar": 0.82}
    assert len(data["groups"]) == len(PHOTOS)
    group = data["groups"][0]
    assert set(group) == {"paths", "reference", "dimensions", "best", "weakest", "verdict", "pairs"}
    assert len(group["paths"]) == 4 and group["paths"][0] == group["reference"] and len(group["dimensions"]) == 4
    assert set(group["pairs"][0]) == {"a", "b", "score", "verdict"} and group["pairs"][0]["a"] == group["reference"]
    assert data["reference"] == "largest" and data["reference_rule"] == "largest, then sharpest"
    assert {Path(s["path"]).name for s in data["skipped"]} == {"empty.jpg", "truncated.jpg"}
    again = json.loads(similar(str(library), "--json", "--threshold", "0.95")[1])
    assert again["hashed"] == 0 and again["searched"] is False and again["threshold"] == 0.95


def test_cli_text_reports_skipped_files_on_stderr_and_groups_on_stdout(
    start_daemon, library: Path, tmp_path: Path
) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    new = tmp_path / "new"
    new.mkdir()
    photo("rocket").resize((200, 150)).save(new / "rocket_copy.jpg")
    code, out, err = similar(str(new), "--against", str(library))
    assert code == 0
    assert "rocket_copy.jpg" in out and "rocket.jpg" in out and "1 groups among" in out.splitlines()[-1]
    assert "empty.jpg: empty file" in err and "truncated.jpg: cannot read image" in err
    assert "hashed 23 images" in err.splitlines()  # progress goes to stderr (new and library files alike)


def test_cli_reference_rule_the_person_chooses_makes_each_groups_reference(start_daemon, tmp_path: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    copies = near_copies("chelsea", tmp_path)
    os.utime(copies[2], ns=(10**18, 10**18))  # the quality-15 copy: the earliest file
    by_rule = {}
    for rule in ("largest", "earliest"):
        code, out, err = similar(str(tmp_path), "--json", "--reference", rule)
        assert code == 0, err
        by_rule[rule] = json.loads(out)
    (largest,) = by_rule["largest"]["groups"]
    (earliest,) = by_rule["earliest"]["groups"]
    assert Path(largest["reference"]).name == "chelsea.jpg"
    assert Path(earliest["reference"]).name == "chelsea_q15.jpg" and earliest["paths"][0] == earliest["reference"]
    assert {pair["a"] for pair in earliest["pairs"]} == {earliest["reference"]}  # every score is to the reference
    assert by_rule["earliest"]["reference_rule"] == "earliest file, then largest"
    assert by_rule["earliest"]["hashed"] == 0  # another rule re-groups the stored search
    code, out, _ = similar(str(tmp_path), "--reference", "sharpest")
    assert code == 0 and out.splitlines()[-1].endswith("each group's reference: the sharpest, then largest)")
    code, _, err = similar(str(tmp_path), "--reference", "newest")
    assert code == 2 and "'newest' is not one of 'largest', 'sharpest', 'earliest'" in err


def test_cli_embedding_method_without_a_model_fails_with_one_line(library: Path) -> None:
    code, out, err = similar(str(library), "--method", "embedding")
    assert code == 1 and out == ""
    assert err.strip().splitlines() == [
        "error: --method embedding needs an embedding model: set [similarity] embedding_model in the config "
        "(or IMAGEWORKS_SIMILARITY_EMBEDDING_MODEL), or use --method hash"
    ]


def test_cli_leaves_raw_files_out_with_a_note(start_daemon, tmp_path: Path) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    photo("camera").save(tmp_path / "camera.jpg")
    (tmp_path / "IMG_1.nef").write_bytes(os.urandom(64))
    code, _, err = similar(str(tmp_path))
    assert code == 0 and "1 RAW files left out" in err


def test_the_similarity_core_imports_no_ui_and_no_torch() -> None:
    import subprocess
    import sys

    from tests.test_layers import LAYERS, package_of

    code = "import imageworks.similarity, imageworks.cli.similar, sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = {package_of(name) for name in json.loads(out)}
    assert not {"textual", "torch", "transformers", *LAYERS} & loaded


def test_a_corrupt_cache_file_is_moved_aside_and_rebuilt(library: Path, xdg: dict[str, Path]) -> None:
    from imageworks import paths

    paths.similarity_db().write_bytes(b"this is not a database" * 100)
    with SimilarityCache() as cache:
        assert len(find_similar(images_in(library), cache=cache).groups) == len(PHOTOS)
    assert any(p.name.startswith("similarity.sqlite3.broken-") for p in paths.cache_dir().iterdir())


def test_top_k_and_verdict_bands_come_from_config(library: Path, cache: SimilarityCache) -> None:
    every = find_similar(images_in(library), cache=cache)
    assert [len(g.pairs) for g in every.groups] == [3] * len(PHOTOS)  # every copy linked to its original (top 10)
    one = find_similar(images_in(library), cache=cache, settings=config.SimilarityConfig(top_k=1))
    assert len(one.groups) == len(PHOTOS)  # each copy's nearest photo is its original
    stored = sorted(len(pairs) // 12 for (pairs,) in cache._con.execute("SELECT pairs FROM neighbours"))
    assert stored == [4 * len(PHOTOS) - len(PHOTOS), 6 * len(PHOTOS)]  # top 1: one link per copy; top 10: all 6
    assert one.hashed == 0  # another top_k is another search, not another hash


def test_cli_verdict_bands_follow_the_config(start_daemon, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    monkeypatch.setenv("IMAGEWORKS_SIMILARITY_DUPLICATE", "0.999")
    data = json.loads(similar(str(library), "--json")[1])
    assert data["bands"]["duplicate"] == 0.999
    verdicts = {p["verdict"] for g in data["groups"] for p in g["pairs"]}
    assert verdicts == {"duplicate", "similar"}  # exact re-encodes stay duplicates, crops become similar


def test_cli_refuses_a_threshold_below_chance(library: Path) -> None:
    code, _, err = similar(str(library), "--threshold", "0.3")
    assert code == 2 and "0.5" in err


def test_cli_names_what_the_daemons_walk_left_out(
    start_daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1")
    photo("camera").save(tmp_path / "camera.jpg")
    (tmp_path / "gone.jpg").symlink_to("missing.jpg")
    monkeypatch.setenv("IMAGEWORKS_SCAN_FOLLOW_SYMLINKS", "true")  # a link followed to nothing: the walk's problem
    code, _, err = similar(str(tmp_path))
    assert code == 0 and f"left out {tmp_path / 'gone.jpg'}: broken symlink (skipped)" in err.splitlines()
    data = json.loads(similar(str(tmp_path), "--json")[1])
    assert {"path": str(tmp_path / "gone.jpg"), "problem": "broken symlink (skipped)"} in data["skipped"]
