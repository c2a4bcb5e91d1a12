"""The writer never damages a photo: read-only and corrupt files are refused untouched, a killed or out-of-space
write leaves the old file (or the complete new one) and a backup, a file changed since planning is refused,
dry runs write nothing, permissions and mtime carry over, and restore puts originals back."""

from __future__ import annotations

import os
import random
import select
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from imageworks import metadata as md
from imageworks.cli import main
from imageworks.config import MetadataConfig
from imageworks.metadata.atomic import PAUSE_ENV, TEMP_PREFIX
from tests.test_metadata_support import (
    as_list,
    exif_one,
    exiftool_write,
    make_image,
    make_jpeg,
    needs_exiftool,
    sha256,
)

pytestmark = needs_exiftool

ROOT = Path(__file__).resolve().parents[1]
OPTS = MetadataConfig()
NEW = md.Proposed(caption="new caption", description="new description", keywords=["new", "keywords"])


def noisy_jpeg(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A JPEG whose scan data does not compress away (random pixels): tens of KB."""
    rng = random.Random(7)
    im = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    im.save(path, "JPEG", quality=90)
    return path


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX))


# --- read-only, corrupt --------------------------------------------------------------------------------------


def test_read_only_file_is_refused_and_untouched(tmp_path: Path) -> None:
    # The tests run as root, and root may write a 0444 file. The writer therefore reads the permission bits as the
    # owner's intent: no owner write bit = read-only, for root too. (Non-root users get os.access().)
    path = make_jpeg(tmp_path / "ro.jpg")
    path.chmod(0o444)
    digest, before = sha256(path), path.stat()
    plan = md.plan(path, NEW, "overwrite", options=OPTS)  # reading is fine
    with pytest.raises(md.MetadataError, match="read-only") as err:
        md.apply(plan)
    assert err.value.code == "read_only" and "\n" not in str(err.value)
    after = path.stat()
    assert sha256(path) == digest and after.st_mode == before.st_mode and after.st_mtime_ns == before.st_mtime_ns
    assert temps(tmp_path) == [] and md.BackupStore().entries(path=path) == []


def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    path = make_jpeg(folder / "a.jpg")
    digest = sha256(path)
    folder.chmod(0o555)
    try:
        with pytest.raises(md.MetadataError, match="folder is read-only") as err:
            md.apply(md.plan(path, NEW, "overwrite", options=OPTS))
        assert err.value.code == "read_only" and sha256(path) == digest
    finally:
        folder.chmod(0o755)


def _truncate(fraction: float):
    def cut(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return cut


def _flip_png_crc(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[33 + 8 + 10] ^= 0xFF  # a byte inside the first chunk after IHDR
    path.write_bytes(bytes(data))


def _corrupt_xmp(path: Path) -> None:
    exiftool_write(path, "-XMP-dc:Title=placeholder title")
    data = path.read_bytes().replace(b"</rdf:RDF>", b"</rdf:RDX>")
    path.write_bytes(data)


@pytest.mark.parametrize(
    ("fmt", "damage", "code"),
    [
        ("noisy-jpeg", _truncate(0.6), "corrupt"),
        ("jpeg", _truncate(0.01), "corrupt"),
        ("png", _truncate(0.7), "corrupt"),
        ("png", _flip_png_crc, "corrupt"),
        ("tiff", _truncate(0.5), "corrupt"),
        ("webp", _truncate(0.5), "corrupt"),
        ("jpeg", _corrupt_xmp, "corrupt"),
        ("jpeg", lambda p: p.write_bytes(b"\x00" * 100), "unsupported"),
        ("jpeg", lambda p: p.write_bytes(b""), "unsupported"),
    ],
    ids=[
        "jpeg-cut",
        "jpeg-header-cut",
        "png-cut",
        "png-bad-crc",
        "tiff-cut",
        "webp-cut",
        "jpeg-bad-xmp",
        "zeros",
        "empty",
    ],
)
def test_truncated_or_corrupt_files_are_refused_untouched(tmp_path: Path, fmt: str, damage, code: str) -> None:
    path = noisy_jpeg(tmp_path / "bad.jpg") if fmt == "noisy-jpeg" else make_image(tmp_path / f"bad.{fmt}", fmt)
    damage(path)
    digest, mtime = sha256(path), path.stat().st_mtime_ns
    with pytest.raises(md.MetadataError) as err:
        md.apply(md.plan(path, NEW, "overwrite", options=OPTS))
    assert err.value.code == code, str(err.value)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert sha256(path) == digest and path.stat().st_mtime_ns == mtime
    assert temps(tmp_path) == []


# --- killed mid-apply ----------------------------------------------------------------------------------------

APPLY_SCRIPT = """
import sys
from imageworks import metadata as md
from imageworks.config import MetadataConfig
new = md.Proposed(caption="new caption", keywords=["killed", "mid-write"])
plan = md.plan(sys.argv[1], new, "overwrite", options=MetadataConfig())
md.apply(plan, job_id="job-killed")
print("finished")
"""


def _run_until_paused(path: Path, point: str, fifo: Path) -> subprocess.Popen:
    """Start apply in a child that stops at ``point`` (the writer's test hook), and return once it is there."""
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    env = {**os.environ, PAUSE_ENV: f"{point}:{fifo}"}
    proc = subprocess.Popen([sys.executable, "-c", APPLY_SCRIPT, str(path)], env=env, cwd=ROOT, stderr=subprocess.PIPE)
    got = b""
    deadline = time.monotonic() + 60
    try:
        while not got.endswith(b"\n"):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "child exited"
            assert time.monotonic() < deadline, "child never reached the pause point"
            ready, _, _ = select.select([reader], [], [], 0.5)
            if ready:
                got += os.read(reader, 100)
    finally:
        os.close(reader)
    assert got.decode().strip() == point
    return proc


@pytest.mark.parametrize("point", ["before-replace", "after-replace"])
def test_killed_during_apply_leaves_old_or_new_file_and_a_backup(tmp_path: Path, point: str) -> None:
    path = lightroom_jpeg = make_jpeg(tmp_path / "kill.jpg")
    exiftool_write(lightroom_jpeg, "-XMP-dc:Subject=mine")
    original = path.read_bytes()
    proc = _run_until_paused(path, point, tmp_path / "pause.fifo")
    proc.kill()  # SIGKILL: no cleanup handlers run
    proc.wait(10)

    now = path.read_bytes()
    entries = md.BackupStore().entries(path=path)
    assert len(entries) == 1 and entries[0].job_id == "job-killed"
    assert md.BackupStore().blob(entries[0].blob or "") == original  # the backup is complete and verified
    if point == "before-replace":
        assert now == original
        assert len(temps(tmp_path)) == 1  # the finished temp file the rename never took
        assert [r.action for r in md.restore(path)] == ["unchanged"]
        # the next write to this photo clears the dead writer's temp file
        md.apply(md.plan(path, NEW, "merge", options=OPTS))
        assert temps(tmp_path) == []
    else:
        got = exif_one(path)  # complete and readable, with everything we wrote
        assert got["XMP-dc:Title"] == "new caption" and as_list(got["IPTC:Keywords"]) == ["killed", "mid-write"]
        assert temps(tmp_path) == []
        assert [r.action for r in md.restore(path)] == ["restored"]
        assert path.read_bytes() == original


# --- full disk -----------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_during_temp_write(tiny_fs: Path) -> None:
    path = noisy_jpeg(tiny_fs / "full.jpg")
    filler = tiny_fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill the file system to the last block
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    digest = sha256(path)
    plan = md.plan(path, NEW, "overwrite", options=OPTS)
    with pytest.raises(md.MetadataError, match="disk full") as err:
        md.apply(plan)
    assert err.value.code == "disk_full"
    assert sha256(path) == digest and temps(tiny_fs) == []
    assert md.BackupStore().entries(path=path) == []  # the write never happened: no backup row either


RLIMIT_SCRIPT = """
import os, resource, signal, sys
from imageworks import metadata as md
from imageworks.config import MetadataConfig
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored, a write past the limit fails with EFBIG instead of killing
limit = os.path.getsize(sys.argv[1]) + 64  # the backup copy fits, the bigger new file does not
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
plan = md.plan(sys.argv[1], md.Proposed(description="x" * 1500), "overwrite", options=MetadataConfig())
try:
    md.apply(plan)
except md.MetadataError as exc:
    print(exc.code, exc, sep="|")
"""


def test_file_size_limit_during_temp_write(tmp_path: Path) -> None:
    # The other way to run out of room, and one that needs no mount: RLIMIT_FSIZE makes write() fail with EFBIG.
    path = noisy_jpeg(tmp_path / "limit.jpg")
    digest = sha256(path)
    out = subprocess.run([sys.executable, "-c", RLIMIT_SCRIPT, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.startswith("disk_full|") and "original is untouched" in out.stdout, out.stdout + out.stderr
    assert sha256(path) == digest and temps(tmp_path) == []


# --- changed since planned ------------------------------------------------------------------------------------


def test_file_changed_since_plan_is_refused(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "c.jpg")
    plan = md.plan(path, NEW, "overwrite", options=OPTS)
    exiftool_write(path, "-XMP-dc:Subject=someone else")  # another program writes meanwhile
    digest = sha256(path)
    with pytest.raises(md.MetadataError, match="changed on disk since it was planned") as err:
        md.apply(plan)
    assert err.value.code == "changed" and sha256(path) == digest


def test_replaced_file_with_same_size_and_mtime_is_refused(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "r.jpg")
    plan = md.plan(path, NEW, "overwrite", options=OPTS)
    st = path.stat()
    copy = tmp_path / "copy.jpg"
    shutil.copyfile(path, copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(copy, path)  # same bytes, size and mtime: only the inode tells
    with pytest.raises(md.MetadataError, match="changed on disk") as err:
        md.apply(plan)
    assert err.value.code == "changed"


def test_two_writers_with_plans_of_the_same_file_second_is_refused(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "two.jpg")
    first = md.plan(path, md.Proposed(keywords=["first"]), "merge", options=OPTS)
    second = md.plan(path, md.Proposed(keywords=["second"]), "merge", options=OPTS)
    md.apply(first)
    with pytest.raises(md.MetadataError, match="changed"):
        md.apply(second)
    assert as_list(exif_one(path)["XMP-dc:Subject"]) == ["first"]


# --- dry run, permissions, mtime -----------------------------------------------------------------------------


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    files = [make_image(tmp_path / f"d.{fmt}", fmt) for fmt in ("jpeg", "tiff", "png", "webp")]
    raw = tmp_path / "IMG_1.ARW"
    raw.write_bytes(b"raw bytes")
    files.append(raw)
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in files}
    listing = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(
        main, ["metadata", "write", *map(str, files), "--caption", "c", "--keywords", "a,b", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("dry run: nothing written") == len(files)
    assert "XMP-dc:Title: (empty) → 'c'" in result.output
    assert {p: (sha256(p), p.stat().st_mtime_ns) for p in files} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no sidecar, no temp file
    assert md.BackupStore().entries() == []


def test_permissions_owner_xattrs_and_mtime_kept_by_default(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "p.jpg")
    path.chmod(0o640)
    owner = (1234, 5678) if os.geteuid() == 0 else (os.getuid(), os.getgid())  # only root may give files away
    os.chown(path, *owner)
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_789))
    try:
        os.setxattr(path, "user.colour", b"green")
        has_xattr = True
    except OSError:
        has_xattr = False
    ino = path.stat().st_ino
    applied = md.apply(md.plan(path, NEW, "overwrite", options=OPTS))
    st = path.stat()
    assert st.st_ino != ino and applied.fingerprint is not None and applied.fingerprint.ino == st.st_ino
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == owner
    assert st.st_mtime_ns == 1_600_000_000_123_456_789
    if has_xattr:
        assert os.getxattr(path, "user.colour") == b"green"


def test_mtime_update_policy(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "u.jpg")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    md.apply(md.plan(path, NEW, "overwrite", options=MetadataConfig(mtime="update")))
    assert path.stat().st_mtime_ns > 1_700_000_000_000_000_000


# --- backups and restore -------------------------------------------------------------------------------------


def test_restore_path_brings_back_the_original_after_several_writes(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "orig.jpg")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    original, mtime = path.read_bytes(), path.stat().st_mtime_ns
    md.apply(md.plan(path, md.Proposed(keywords=["one"]), "merge", options=OPTS), job_id="a")
    md.apply(md.plan(path, md.Proposed(keywords=["two"]), "merge", options=OPTS), job_id="b")
    entries = md.BackupStore().entries(path=path)
    assert [e.job_id for e in entries] == ["a", "b"]
    assert all(Path(md.BackupStore().root) not in Path(e.target).parents for e in entries)
    assert md.BackupStore().root.is_relative_to(Path(os.environ["XDG_STATE_HOME"]))  # not in the library
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orig.jpg"]
    result = CliRunner().invoke(main, ["metadata", "restore", str(path)])
    assert result.exit_code == 0, result.output
    assert f"restored: {path}" in result.output
    assert path.read_bytes() == original and path.stat().st_mtime_ns == mtime
    result = CliRunner().invoke(main, ["metadata", "restore", str(path)])
    assert result.exit_code == 1 and "no ImageWorks backup to restore" in result.output


def test_restore_job_refuses_files_changed_since_unless_forced(tmp_path: Path) -> None:
    a, b, c = (make_jpeg(tmp_path / f"{n}.jpg") for n in "abc")
    originals = {p: p.read_bytes() for p in (a, b, c)}
    runner = CliRunner()
    result = runner.invoke(main, ["metadata", "write", str(a), str(b), str(c), "--keywords", "job1", "--json"])
    import json

    job = json.loads(result.output)["job_id"]
    md.apply(md.plan(b, md.Proposed(keywords=["job2"]), "merge", options=OPTS), job_id="job2")  # a later job
    exiftool_write(c, "-XMP-dc:Title=a person's edit")  # a person, after us
    result = runner.invoke(main, ["metadata", "restore", "--job", job])
    assert result.exit_code == 1
    assert f"restored: {a}" in result.output
    assert f"refused: {b} (ImageWorks (job job2) wrote it after" in result.output
    assert f"refused: {c} (changed since ImageWorks wrote it" in result.output
    assert a.read_bytes() == originals[a] and b.read_bytes() != originals[b]
    result = runner.invoke(main, ["metadata", "restore", "--job", job, "--force", "--json"])
    assert result.exit_code == 0, result.output
    assert {r["action"] for r in json.loads(result.output)["results"]} == {"restored"}
    assert b.read_bytes() == originals[b] and c.read_bytes() == originals[c]


def test_backups_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_jpeg(tmp_path / "nb.jpg")
    monkeypatch.setenv("IMAGEWORKS_METADATA_BACKUPS", "false")
    result = CliRunner().invoke(main, ["metadata", "write", str(path), "--keywords", "x"])
    assert result.exit_code == 0, result.output
    assert md.BackupStore().entries() == []
    with pytest.raises(md.MetadataError, match="no ImageWorks backup"):
        md.restore(path)


def test_errors_are_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    result = CliRunner().invoke(main, ["metadata", "show", str(missing)])
    assert result.exit_code == 1 and result.output.strip() == f"error: {missing}: no such file"
    result = CliRunner().invoke(main, ["metadata", "write", str(missing)])
    assert result.exit_code == 2 and "at least one of --caption" in result.output
