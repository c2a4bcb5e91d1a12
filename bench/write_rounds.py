"""What one memory of our writes costs each writer: side by side in one run, under temporary XDG dirs.

Usage: python bench/write_rounds.py [--files 60] [--rounds 3]

- metadata write: ``imageworks metadata write`` (in process, through click) of photos whose drafts the daemon keeps,
  committed once (it is asked what we wrote last and told after: two requests per run, a draft saved and the file
  read again per file; each write replaces our last caption) against the same
  number of twin photos without drafts (no daemon asked), in interleaved rounds; ms per file and the ratio;
- a tag result written by ``tag --write``, as the review desk records it: ``DraftStore.record_write`` (the draft
  takes the values, then the file is read to tell whether it holds every value of it: ``commit.file_holds``) against
  ``upsert_generated`` (what the desk did before), on the same real JPEGs; ms per draft and the ratio;
- recall: the memory a writer asks for, of a draft with a record and of one committed before the memory existed
  (its file read to adopt the last commit's values), ms per file.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from bench_env import foreground_daemon, isolated_xdg


def make_photos(folder: Path, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        Image.new("RGB", (640, 480), (i % 256, 90, 30)).save(path, quality=85)
        out.append(str(path))
    return out


def seed(photos: list[str]) -> None:
    from imageworks.review.drafts import DraftKeyword, Generated, Origin, Values
    from imageworks.review.fingerprint import file_fingerprint
    from imageworks.review.store import DraftStore

    values = Values(
        caption="a boat by the sea",
        description="Seeded for the benchmark.",
        keywords=tuple(DraftKeyword(keyword=w) for w in ("boat", "sea", "harbour")),
    )
    origin = Origin(job_id="seed", item=0, model="bench")
    with DraftStore() as store:
        store.upsert_many(
            Generated(path=p, origin=origin, values=values, fingerprint=file_fingerprint(p)) for p in photos
        )


def metadata_write(drafted: list[str], plain: list[str], rounds: int) -> tuple[float, float]:
    """ms per file of `metadata write` with drafts (the daemon asked and told) and without, interleaved."""
    from click.testing import CliRunner

    from imageworks.cli import main

    runner = CliRunner()
    size = -(-len(drafted) // rounds)
    spent = {"drafted": 0.0, "plain": 0.0}
    for n, start in enumerate(range(0, len(drafted), size)):
        order = (("drafted", drafted), ("plain", plain)) if n % 2 == 0 else (("plain", plain), ("drafted", drafted))
        for label, paths in order:
            chunk = paths[start : start + size]
            t0 = time.perf_counter()
            done = runner.invoke(main, ["metadata", "write", *chunk, "--caption", f"round {n}", "--keywords", "dune"])
            spent[label] += time.perf_counter() - t0
            assert done.exit_code == 0, done.output
    return 1000 * spent["drafted"] / len(drafted), 1000 * spent["plain"] / len(plain)


def desk_costs(photos: list[str]) -> tuple[float, float, float, float]:
    """ms per draft: record_write with the file read to settle its status vs upsert_generated; recall with a record
    and recall adopting a commit made before the memory existed."""
    import msgspec

    from imageworks import metadata as md
    from imageworks.review.commit import file_holds
    from imageworks.review.drafts import BackupLink, DraftKeyword, FileWrite, Generated, Origin, Values
    from imageworks.review.fingerprint import file_fingerprint
    from imageworks.review.memory import adopted
    from imageworks.review.rounds import FileWritten
    from imageworks.review.store import DraftStore

    def result(path: str, job: str) -> Generated:
        values = Values(caption=f"a kite {job}", keywords=(DraftKeyword(keyword="kite"),))
        return Generated(
            path=path,
            origin=Origin(job_id=job, item=0, model="bench"),
            values=values,
            fingerprint=file_fingerprint(path),
        )

    upsert = record = with_record = adopting = 0.0
    with DraftStore(Path(photos[0]).parent.parent / "desk.sqlite3") as store:
        for path in photos:
            t0 = time.perf_counter()
            store.upsert_generated(result(path, "plain"))
            upsert += time.perf_counter() - t0
            draft = store.get(path)
            assert draft is not None
            written = result(path, "written")  # what `tag --write` writes, then hands the desk
            proposed = md.Proposed(caption=written.values.caption, keywords=["kite"], last=draft.written)
            plan = md.plan(path, proposed, "merge")
            applied = md.apply(plan, job_id="bench")
            write = FileWrite(
                fingerprint=file_fingerprint(path),
                backup=BackupLink(backup_id=applied.backup_id, target=path, job_id="bench"),
                written=plan.last_write,
            )
            t0 = time.perf_counter()
            saved = store.record_write(
                FileWritten(path=path, version=draft.version, write=write),
                file_holds,
                generated=written,
                job="bench",
            )
            record += time.perf_counter() - t0
            assert saved is not None and saved.status == "committed", saved and saved.status
            t0 = time.perf_counter()
            assert store.get(path).written is not None  # type: ignore[union-attr]
            with_record += time.perf_counter() - t0
            t0 = time.perf_counter()
            last = adopted(msgspec.structs.replace(saved, written=None))
            adopting += time.perf_counter() - t0
            assert last is not None
    n = len(photos)
    return 1000 * record / n, 1000 * upsert / n, 1000 * with_record / n, 1000 * adopting / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    root = isolated_xdg("iwwr-", IMAGEWORKS_MODEL_NAME="echo")
    drafted = make_photos(root / "drafted", args.files)
    plain = make_photos(root / "plain", args.files)
    desk = make_photos(root / "desk" / "photos", args.files)
    seed(drafted)
    from imageworks import client

    with foreground_daemon():
        with client.Client("bench") as c:  # the drafts committed first: their files hold what we wrote
            from imageworks.review.edits import ApproveAll, Selection

            c.review_batch(ApproveAll(selection=Selection(paths=tuple(drafted))))
            job = c.review_commit(paths=drafted).job
            assert job is not None and list(c.follow(job.job_id))[-1].state == "done"
        with_drafts, without = metadata_write(drafted, plain, args.rounds)
        with client.Client("bench") as c:
            states = {c.review_get(p).status for p in drafted}
            assert states == {"committed"}, states
            c.shutdown()
    try:
        record, upsert, recall_ms, adopt_ms = desk_costs(desk)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"metadata write, {args.files} files each way in {args.rounds} interleaved rounds (640x480 JPEGs):")
    print(f"  with drafts (daemon asked and told) {with_drafts:7.1f} ms/file")
    print(f"  without drafts (no daemon)          {without:7.1f} ms/file   ratio {with_drafts / without:.2f}x")
    print(f"a tag --write result on its draft, {args.files} drafts:")
    print(f"  record_write + file_holds           {record:7.2f} ms/draft")
    print(f"  upsert_generated (before)           {upsert:7.2f} ms/draft   ratio {record / upsert:.2f}x")
    print(f"recall: with a record {recall_ms:.3f} ms/file; adopting a pre-memory commit {adopt_ms:.2f} ms/file")


if __name__ == "__main__":
    main()
