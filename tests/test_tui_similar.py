"""The Similar mode (Pilot, real photos from scikit-image and their near-copies, a real daemon that hashes, searches,
keeps the marks and moves the rejects): the compute key is the only thing that hashes; the threshold keys re-group at
once with the debug counters flat; keep/reject marks persist across apps; moving the rejects goes through the
confirmation modal and deletes nothing. Plus a snapshot of the screen at 80x24 and 120x40."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from imageworks import config as iw_config
from imageworks.client import Client
from tests.test_tui_helpers import counters, make_app, screen_text, settle, wait_until
from tests.waiting import wait_for

data = pytest.importorskip("skimage.data")

PHOTOS = ("astronaut", "chelsea", "coffee")


def make_photos(folder: Path) -> Path:
    """Each photo, a half-size copy and a 2 %-cropped low-quality copy, plus a distinct photo and a 0-byte file. At
    0.82 each photo's three group together; at 0.95 only the exact-hash pairs (original and half size) stay."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        img = Image.fromarray(getattr(data, name)()).convert("RGB").resize((256, 256))
        img.save(folder / f"{name}.jpg", quality=92)
        img.resize((128, 128)).save(folder / f"{name}_small.jpg", quality=85)
        img.crop((5, 5, 251, 251)).save(folder / f"{name}_crop.jpg", quality=60)
    Image.fromarray(data.camera()).convert("RGB").resize((256, 256)).save(folder / "camera.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def photos_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_photos(tmp_path_factory.mktemp("template") / "photos")


@pytest.fixture
def photos(photos_template: Path, tmp_path: Path) -> Path:
    """A fresh copy per test (moving rejects changes the folder)."""
    import shutil

    return Path(shutil.copytree(photos_template, tmp_path / "photos"))


def names(groups) -> list[list[str]]:
    return sorted(sorted(Path(p).name for p in g.paths) for g in groups)


async def open_similar(pilot) -> None:
    await settle(pilot)
    await pilot.press("f9")  # the mode's f-key: a first start's focused Library field would take a digit
    await settle(pilot)
    assert pilot.app.current_mode == "similar"


async def compute(pilot) -> None:
    app = pilot.app
    await pilot.press("c")
    await wait_until(pilot, lambda: app.similar.state in ("done", "error"), what="the compute to finish")
    await settle(pilot)
    assert app.similar.state == "done", app.similar.message


async def test_threshold_regroups_at_once_and_hashes_nothing(photos: Path, start_daemon) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    app = make_app(photos)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        assert counters(app)["hashes computed"] == 0 and app.similar.floor is None
        assert "no groups yet" in screen_text(app)
        await compute(pilot)
        view = app.similar
        assert counters(app)["hashes computed"] == 11 and counters(app)["similarity searches"] == 1
        assert view.images == 10 and view.skipped == ("empty.jpg: empty file",) and view.floor == 0.82
        assert names(view.groups)[0] == ["astronaut.jpg", "astronaut_crop.jpg", "astronaut_small.jpg"]
        assert all("camera.jpg" not in g for g in names(view.groups))
        assert all(Path(g.reference).name in (f"{n}.jpg" for n in PHOTOS) for g in view.groups)  # the largest
        assert "groups among 10 images" in screen_text(app)
        # 64-bit hashes score in steps of 1/64: the threshold sits on that grid and each key moves it one bit
        assert view.step == 1 / 64 and view.threshold == 53 / 64
        assert "threshold 0.828" in screen_text(app) and "step 1/64 (one hash bit)" in screen_text(app)
        at_floor = names(view.groups)
        await pilot.press("ctrl+g")  # the Debug panel shows the counter that proves it
        await settle(pilot)
        assert "hashes computed" in screen_text(app)
        regroups = counters(app)["similarity regroups"]
        await pilot.press(*["right_square_bracket"] * 6)
        await settle(pilot)
        assert app.similar.threshold == 59 / 64
        assert ["coffee.jpg", "coffee_small.jpg"] in names(app.similar.groups)  # the coffee crop scores 0.875
        assert len(names(app.similar.groups)[0]) == 3
        await pilot.press(*["right_square_bracket"] * 3)
        await settle(pilot)
        assert all(len(g) == 2 for g in names(app.similar.groups))  # only the exact-hash pairs stay
        assert "threshold 0.969" in screen_text(app)
        await pilot.press(*["left_square_bracket"] * 9)
        await settle(pilot)
        assert names(app.similar.groups) == at_floor
        assert counters(app)["hashes computed"] == 11 and counters(app)["similarity searches"] == 1
        assert counters(app)["similarity regroups"] == regroups + 18
        # below the searched floor the groups stay and the screen says a compute is needed; computing again
        # searches the stored hashes (nothing is hashed)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "below the searched 0.82" in screen_text(app)
        await compute(pilot)
        assert app.similar.floor == 52 / 64
        assert counters(app)["hashes computed"] == 11 and counters(app)["similarity searches"] == 2


async def test_marks_persist_and_moving_rejects_confirms_and_deletes_nothing(photos: Path, start_daemon) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    app = make_app(photos)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        assert app.screen.check_action("compute", ()) and not app.screen.check_action("move_rejects", ())
        await compute(pilot)
        group = app.similar.groups[0]
        # the reference first (the largest), then the copies by their score to it: the half size, then the crop
        assert [Path(p).name for p in group.paths] == ["astronaut.jpg", "astronaut_small.jpg", "astronaut_crop.jpg"]
        assert "reference" in screen_text(app)
        await pilot.press("k")  # keep the original
        await pilot.press("right", "right", "x")  # reject the crop
        await pilot.press("left", "x", "x")  # mark and unmark the small copy
        await settle(pilot)
        small, crop = group.paths[1], group.paths[2]
        assert app.similar.marks == {group.paths[0]: "keep", crop: "reject"}
        assert " reject " in screen_text(app) and " keep " in screen_text(app)
        await pilot.press("down", "o")  # the chelsea group: keep its first image, reject the rest
        await settle(pilot)
        chelsea = app.similar.groups[1].paths
        assert [app.similar.marks[p] for p in chelsea] == ["keep", "reject", "reject"]
        await pilot.press("o", "right", "k", "right", "k")  # changed my mind: no rejects there
        await pilot.press("up")
        await settle(pilot)

    again = make_app(photos)  # a second app: marks come back, and the stored search answers (nothing hashed)
    async with again.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        await compute(pilot)
        assert counters(again)["hashes computed"] == 0 and counters(again)["similarity searches"] == 0
        assert again.similar.marks == {group.paths[0]: "keep", crop: "reject"} | {p: "keep" for p in chelsea}
        before = sorted(p.name for p in photos.iterdir())
        await pilot.press("M")
        await settle(pilot)
        assert "Move 1 photo marked reject?" in screen_text(again)
        await pilot.press("n")  # declined: nothing moves
        await settle(pilot)
        assert sorted(p.name for p in photos.iterdir()) == before
        await pilot.press("M")
        await settle(pilot)
        await pilot.press("y")
        await wait_until(pilot, lambda: not Path(crop).exists(), what="the reject to move")
        await settle(pilot)
        rejects = Path(f"{photos}-rejects")
        assert [p.name for p in rejects.iterdir()] == ["astronaut_crop.jpg"]
        assert sorted(p.name for p in photos.iterdir()) == sorted(set(before) - {"astronaut_crop.jpg"})
        assert names(again.similar.groups)[0] == ["astronaut.jpg", "astronaut_small.jpg"]
        assert "3 groups among 9 images" in screen_text(again)  # the title counts follow the move
        assert Path(small).exists()
        assert not again.screen.check_action("move_rejects", ())
        notes: list[str] = []
        again.notify = lambda message, **kw: notes.append(str(message))
        await pilot.press("u")  # undo: the daemon puts it back, its mark too; the groups and counts follow
        await wait_until(pilot, lambda: Path(crop).exists(), what="the move to be undone")
        await wait_until(pilot, lambda: again.similar.images == 10, what="the put-back photo counted")
        assert list(rejects.iterdir()) == [] and sorted(p.name for p in photos.iterdir()) == before
        assert names(again.similar.groups)[0] == ["astronaut.jpg", "astronaut_crop.jpg", "astronaut_small.jpg"]
        assert again.similar.marks[crop] == "reject" and "3 groups among 10 images" in screen_text(again)
        await pilot.press("u")  # nothing left to undo: said in one line, nothing moves
        await wait_until(pilot, lambda: any("nothing to undo" in n for n in notes), what="the refusal")
        assert notes[0] == "put back 1 photo"
        assert sorted(p.name for p in photos.iterdir()) == before


async def test_computing_needs_a_library_root_and_another_method_needs_another_compute(
    photos: Path, start_daemon
) -> None:
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_similar(pilot)
        assert not app.screen.check_action("compute", ())
        app.services.update_config("tui", library_root=str(photos))
        app.refresh_bindings()
        await compute(pilot)
        assert app.similar.groups
        await pilot.press("m")
        await settle(pilot)
        assert app.similar.method == "embedding" and app.similar.groups == () and app.similar.floor is None
        # the method is passed through: until the daemon's embed slot serves it, the one-line error shows
        await pilot.press("c")
        await wait_until(pilot, lambda: app.similar.state == "error", what="the embedding error")
        await settle(pilot)
        assert "embedding" in app.similar.message and "embedding" in screen_text(app)


async def test_the_reference_key_changes_the_rule_and_regroups_at_once(photos: Path, start_daemon) -> None:
    from imageworks.similarity.quality import measure

    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    os.utime(photos / "astronaut_crop.jpg", ns=(10**18, 10**18))  # the earliest file
    app = make_app(photos)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        await compute(pilot)

        def astronaut() -> str:
            return next(Path(g.reference).name for g in app.similar.groups if "astronaut" in Path(g.reference).name)

        assert astronaut() == "astronaut.jpg" and "largest, then sharpest" in app.similar.reference_rule
        hashed, searches = counters(app)["hashes computed"], counters(app)["similarity searches"]
        await pilot.press("r")
        await settle(pilot)
        assert app.similar.reference == "sharpest" and app.similar.reference_rule == "sharpest, then largest"
        for g in app.similar.groups:  # the sharpest photo of each group is its reference, every score to it
            sharpness = {p: measure(p).sharpness for p in g.paths}  # type: ignore[union-attr]
            assert g.reference == max(g.paths, key=sharpness.__getitem__)
            assert {pair.a for pair in g.pairs} == {g.reference}
        assert "reference sharpest" in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert astronaut() == "astronaut_crop.jpg" and app.similar.reference_rule == "earliest file, then largest"
        assert "reference earliest" in screen_text(app)
        await pilot.press("r")
        await settle(pilot)
        assert app.similar.reference == "largest" and astronaut() == "astronaut.jpg"
        assert counters(app)["hashes computed"] == hashed and counters(app)["similarity searches"] == searches


async def test_the_embedding_compute_asks_the_daemon_through_the_apps_one_client(photos: Path, start_daemon, tmp_path):
    """The search runs on a worker thread and its embed requests on the App's loop, through the App's one client:
    the daemon lists the TUI's process once, as ``tui``, and stops listing it the moment the App quits (the App's
    bye is its last open client's; a client of the Similar mode's own would keep the session listed)."""
    from imageworks.daemon.demo_model.embedding import build_tiny_embedding
    from imageworks.tui.app import ImageWorksApp

    clip = build_tiny_embedding(tmp_path / "tiny-clip", "clip")["path"]
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    cfg = iw_config.replace(iw_config.Config(), "tui", library_root=str(photos))
    cfg = iw_config.replace(cfg, "similarity", embedding_model=clip)
    app = ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=None)

    def ours() -> list[str]:
        with Client("check", register=False) as probe:  # a probe: never listed itself
            return [c.name for c in probe.status().clients if c.pid == os.getpid()]

    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.daemon.up, what="the daemon to answer")
        await open_similar(pilot)
        await pilot.press("m")  # embedding
        await compute(pilot)
        assert app.similar.method == "embedding" and app.similar.groups
        with Client("check", register=False) as probe:
            status = probe.status()
        assert status.slots["embed"].loaded and status.counters.embed_requests == 1
        assert ours() == ["tui"]
    wait_for(lambda: not ours(), timeout=10, what="the daemon to stop listing the TUI once it quit")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_similar_snapshot(size, photos_template: Path, tmp_path: Path, monkeypatch, start_daemon, snap_compare) -> None:
    import shutil

    from imageworks.tui.app import ImageWorksApp
    from imageworks.tui.widgets import preview

    shutil.copytree(photos_template, tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")  # it computes; the app does not connect (not in the picture)
    preview.prepare("halfcell")
    preview.THUMBNAILS.clear()  # a process-wide cache: thumbnails an earlier test decoded must not change the picture
    cfg = iw_config.replace(iw_config.Config(), "tui", library_root="photos")
    app = ImageWorksApp(cfg, autostart_daemon=False, heartbeat_s=None, connect=False)  # no daemon in the picture

    async def run_before(pilot) -> None:
        await open_similar(pilot)
        await compute(pilot)
        await pilot.press("right", "x")
        pilot.app.clear_notifications()  # the skipped-file toast fades on a timer: not part of the picture
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc: a process pool or forkserver started here would show)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


async def test_twelve_hundred_unhashed_photos_compute_in_the_daemon_and_the_tui_starts_no_process(
    start_daemon, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(600):  # 600 distinct noise pictures, each with a copy: 600 groups of two
        img = Image.frombytes("RGB", (32, 24), os.urandom(32 * 24 * 3))
        img.save(folder / f"n{i:04d}.jpg", quality=90)
        img.save(folder / f"n{i:04d}_copy.jpg", quality=70)
    start_daemon(IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    before = children_of(os.getpid())  # the daemon (and whatever earlier tests in this process left running)
    app = make_app(folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        await pilot.press("c")
        await wait_until(pilot, lambda: app.similar.state in ("done", "error"), what="the compute", timeout=300)
        await settle(pilot)
        assert app.similar.state == "done", app.similar.message
        assert app.similar.images == 1200 and counters(app)["hashes computed"] == 1200
        assert len(app.similar.groups) == 600 and "600 groups among 1,200 images" in screen_text(app)
        assert children_of(os.getpid()) == before  # the hashing ran in the daemon's pool: no process started here


async def test_moving_tagged_rejects_takes_their_drafts_along_and_a_commit_writes_them_there(
    photos: Path, start_daemon
) -> None:
    from click.testing import CliRunner

    from imageworks.cli import main
    from imageworks.review import edits as E

    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_DAEMON_CPU_WORKERS="2")
    tagged = CliRunner().invoke(main, ["tag", str(photos), "--write", "none"])
    assert tagged.exit_code == 3, tagged.output  # every photo tagged but the empty file
    crop = str(photos / "astronaut_crop.jpg")
    moved = Path(f"{photos}-rejects") / "astronaut_crop.jpg"
    app = make_app(photos)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_similar(pilot)
        await compute(pilot)
        await pilot.press("right", "right", "x")  # reject the crop of the first group (after the reference, the small)
        await settle(pilot)
        assert app.similar.rejects == [crop]
        await pilot.press("M")
        await settle(pilot)
        await pilot.press("y")
        await wait_until(pilot, lambda: moved.exists(), what="the reject to move")
        await settle(pilot)
    listed = CliRunner().invoke(main, ["review", "list", str(moved.parent)])
    assert listed.exit_code == 0 and str(moved) in listed.stdout and "pending" in listed.stdout
    assert str(crop) not in CliRunner().invoke(main, ["review", "list", str(photos)]).stdout
    with Client("t") as c:
        draft = c.review_get(str(moved))
        c.review_edit(E.Approve(path=str(moved)), draft.version)
    committed = CliRunner().invoke(main, ["review", "commit", str(moved.parent)])
    assert committed.exit_code == 0, committed.output
    assert str(moved) in committed.stdout and committed.stdout.strip().endswith("1 written")
    from imageworks import metadata as md

    assert md.read(str(moved)).caption == draft.edited.caption
