"""`imageworks scan` and `imageworks cache clear`, through click's runner, on real trees. The daemon walks (it is the
scan cache's one writer): each test runs one; tests/test_scan_daemon.py covers starting it and reading without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyexiv2
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from imageworks.cli import main

JSON_KEYS = {
    "added",
    "age_seconds",
    "bytes",
    "changed",
    "empty_files",
    "error_count",
    "errors",
    "files",
    "filters",
    "follow_symlinks",
    "from_cache",
    "matching",
    "metadata_probe",
    "paths",
    "removed",
    "root",
    "scanned_at",
    "seconds",
    "skipped_dirs",
    "symlinks_skipped",
    "walk_seconds",
    "warnings",
}


@pytest.fixture(autouse=True)
def daemon(start_daemon):
    # refreshes walk here: a watched library's are answered from the cache (tests/test_watch.py)
    return start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="1", IMAGEWORKS_SCAN_WATCH_LIBRARIES="false")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def scan_json(*args: str) -> dict:
    result = run("scan", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    Image.frombytes("RGB", (200, 100), os.urandom(200 * 100 * 3)).save(root / "big.jpg", quality=95)  # noise: > 10 kB
    Image.new("RGB", (4, 3)).save(root / "small.jpg")
    Image.new("RGB", (4, 3)).save(root / "sub" / "beach.png")
    (root / "sub" / "IMG_9.nef").write_bytes(b"raw")
    (root / "readme.txt").write_text("x")
    with pyexiv2.Image(str(root / "small.jpg")) as img:
        img.modify_xmp({"Xmp.dc.subject": ["done"]})
    os.utime(root / "sub" / "beach.png", (1_500_000_000, 1_500_000_000))  # 2017
    return root


def test_scan_json_is_a_stable_dict_and_the_second_run_comes_from_cache(lib: Path) -> None:
    first = scan_json(str(lib))
    assert set(first) == JSON_KEYS
    assert first["files"] == 4 and first["from_cache"] is False and first["root"] == str(lib)
    assert first["matching"] is None and first["paths"] is None and first["filters"] is None
    second = scan_json(str(lib))
    assert set(second) == JSON_KEYS and second["from_cache"] is True and second["files"] == 4
    assert scan_json(str(lib), "--refresh")["from_cache"] is False
    assert scan_json(str(lib), "--ttl", "0")["from_cache"] is False


def test_summary_line_says_files_bytes_source_and_seconds(lib: Path) -> None:
    fresh = run("scan", str(lib))
    assert fresh.exit_code == 0
    assert f"{lib}: 4 images, " in fresh.stdout and "fresh scan in " in fresh.stdout
    cached = run("scan", str(lib))
    assert "from cache (scanned " in cached.stdout
    filtered = run("scan", str(lib), "--ext", "jpg")
    assert "matching filters: 2 images" in filtered.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--min-size", "10kB"], {"big.jpg"}),
        (["--max-size", "10kB"], {"small.jpg", "sub/beach.png", "sub/IMG_9.nef"}),
        (["--ext", "jpg,png"], {"big.jpg", "small.jpg", "sub/beach.png"}),
        (["--ext", "raw"], {"sub/IMG_9.nef"}),
        (["--name", "*BEACH*"], {"sub/beach.png"}),
        (["--since", "2020-01-01"], {"big.jpg", "small.jpg", "sub/IMG_9.nef"}),
        (["--until", "2020-01-01"], {"sub/beach.png"}),
        (["--tagged"], {"small.jpg"}),
        (["--untagged", "--ext", "jpg"], {"big.jpg"}),
    ],
)
def test_each_filter_option(lib: Path, args: list[str], expected: set[str]) -> None:
    data = scan_json(str(lib), *args, "--list")
    assert {os.path.relpath(p, lib) for p in data["paths"]} == expected
    assert data["matching"]["files"] == len(expected)
    assert data["matching"]["bytes"] == sum((lib / rel).stat().st_size for rel in expected)


def test_untagged_reports_unreadable_files_once(lib: Path) -> None:
    data = scan_json(str(lib), "--untagged")
    assert data["metadata_probe"]["probed"] == 4
    assert [e.split(":")[0] for e in data["metadata_probe"]["errors"]] == ["sub/IMG_9.nef"]
    assert scan_json(str(lib), "--untagged")["metadata_probe"] == {"probed": 0, "cached": 4, "errors": []}


def test_list_prints_exact_bytes_and_moves_the_summary_to_stderr(lib: Path) -> None:
    weird = os.fsencode(lib) + b"/sub/caf\xe9.jpg"
    Image.new("RGB", (4, 3)).save(os.fsdecode(weird), format="JPEG")
    result = run("scan", str(lib), "--list", "--ext", "jpg")
    assert result.exit_code == 0
    assert sorted(result.stdout_bytes.splitlines()) == sorted(
        [os.fsencode(lib / "big.jpg"), os.fsencode(lib / "small.jpg"), weird]
    )
    assert "4 images" not in result.stdout and "5 images" in result.stderr
    data = scan_json(str(lib), "--list", "--ext", "jpg")
    assert f"{lib}/sub/caf\\xe9.jpg" in data["paths"]  # JSON shows undecodable bytes escaped


def test_follow_symlinks_flag_and_config(lib: Path, tmp_path: Path, xdg: dict[str, Path]) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (4, 3)).save(outside / "o.jpg")
    (lib / "link").symlink_to(outside)
    assert scan_json(str(lib))["symlinks_skipped"] == 1
    assert scan_json(str(lib), "--follow-symlinks")["files"] == 5
    (xdg["config"] / "imageworks").mkdir()
    (xdg["config"] / "imageworks" / "config.toml").write_text("[scan]\nfollow_symlinks = true\nttl_seconds = 0\n")
    from_config = scan_json(str(lib))
    assert from_config["follow_symlinks"] is True and from_config["from_cache"] is False
    assert scan_json(str(lib))["from_cache"] is False  # ttl_seconds = 0 from the file
    assert scan_json(str(lib), "--no-follow-symlinks")["files"] == 4


def test_ttl_from_the_environment(lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scan_json(str(lib))
    monkeypatch.setenv("IMAGEWORKS_SCAN_TTL_SECONDS", "0")
    assert scan_json(str(lib))["from_cache"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing"], "no such directory"),
        (["{tmp}/lib/big.jpg"], "is a file, not a directory"),
    ],
)
def test_bad_roots_give_one_line_errors(lib: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = run("scan", *(a.format(tmp=tmp_path) for a in args))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-size", "lots"], "not a size"),
        (["--ext", "jpg,docx"], "unknown image extension 'docx'"),
        (["--since", "yesterday"], "not a date"),
    ],
)
def test_bad_options_are_usage_errors(lib: Path, args: list[str], message: str) -> None:
    result = run("scan", str(lib), *args)
    assert result.exit_code == 2 and message in result.stderr


def test_problems_are_listed_briefly_on_stderr(lib: Path) -> None:
    for i in range(7):
        (lib / f"dangling{i}.jpg").symlink_to(f"missing{i}.jpg")
    result = run("scan", str(lib), "--follow-symlinks")
    assert result.exit_code == 0 and "7 problems" in result.stdout
    assert (
        result.stderr.count("broken symlink (skipped)") == 5 and "... and 2 more (--json lists them)" in result.stderr
    )


def test_cache_clear_one_and_all(lib: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    scan_json(str(lib))
    scan_json(str(other))
    one = run("cache", "clear", str(lib))
    assert one.exit_code == 0 and one.stdout.strip() == f"cleared the cached scan of {lib}"
    assert scan_json(str(lib))["from_cache"] is False
    assert run("cache", "clear", str(tmp_path / "never")).stdout.strip() == f"{tmp_path / 'never'} had no cached scan"
    everything = run("cache", "clear", "--json")
    assert json.loads(everything.stdout) == {"root": None, "roots_cleared": 2}
    assert run("cache", "clear").stdout.strip() == "cleared the scan cache (0 directories)"


def test_corrupt_cache_is_a_warning_not_a_crash(lib: Path, xdg: dict[str, Path]) -> None:
    db = xdg["cache"] / "imageworks" / "scan.sqlite3"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00garbage" * 1000)
    result = run("scan", str(lib))
    assert result.exit_code == 0 and "4 images" in result.stdout
    assert "warning: scan cache" in result.stderr and "moved to scan.sqlite3.broken-" in result.stderr
