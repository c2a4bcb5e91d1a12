"""Review without the TUI: list pages over 20 000 drafts, the edit round trip, commit throughput, keep-rate.

Usage: python bench/review.py [--drafts 20000] [--edits 500] [--commit-files 300]

Under temporary XDG dirs: seeds ``--drafts`` drafts (as tag results would leave them) and starts a real daemon.
- list: ``review.list`` first page (200), a filtered page, a page deep in the list, over ipc;
- edit round trip: client A sends ``review.edit``, client B receives the ``review`` event (the TUI's path: key →
  daemon → event back), p50/p99; goal p99 < 20 ms;
- commit: ``--commit-files`` approved drafts committed through the daemon's ``commit`` job (follow to the end)
  vs the metadata writer called directly (plan + apply, with backups) on a copy of the files, in interleaved rounds;
  goal the commit ≥ 0.9× the direct writer's files/s;
- second round: every committed draft gets a corrected caption and is approved and committed again (the merge
  replaces what our first write left: the rounds' own cost), files/s beside the first round's;
- keep-rate: a scripted person reviews a session of proposals against their library's vocabulary; the share of
  proposed keywords kept as offered, without and with mapping onto the vocabulary (case, plural, the rename memory).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_env import foreground_daemon, isolated_xdg

WORDS = ["beach", "sea", "dog", "sunset", "people", "forest", "city", "night", "snow", "bridge", "boat", "flower"]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def isolate() -> Path:
    root = isolated_xdg("iwr-", IMAGEWORKS_MODEL_NAME="echo")
    return root


def make_photos(folder: Path, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        Image.new("RGB", (64, 48), (i % 256, 90, 30)).save(path, quality=85)
        out.append(str(path))
    return out


def seed(fake: int, photos: list[str]) -> None:
    """``fake`` drafts of paths that need not exist (listing and editing never read the files) plus one per photo."""
    from imageworks.review.drafts import DraftKeyword, FileFingerprint, Generated, Origin, Values
    from imageworks.review.fingerprint import file_fingerprint
    from imageworks.review.store import DraftStore

    rng = random.Random(1)

    def result(path: str, i: int, fingerprint: FileFingerprint) -> Generated:
        words = rng.sample(WORDS, 5)
        values = Values(
            caption=f"a {words[0]} by the {words[1]}",
            description="Generated for the benchmark.",
            keywords=tuple(DraftKeyword(keyword=w, score=0.5) for w in words),
        )
        return Generated(
            path=path, origin=Origin(job_id="seed", item=i, model="bench"), values=values, fingerprint=fingerprint
        )

    with DraftStore() as store:
        fake_fp = FileFingerprint(size=1, mtime_ns=1)
        for start in range(0, fake, 2000):
            store.upsert_many(
                result(f"/library/{i // 1000:03d}/{i:06d}.jpg", i, fake_fp)
                for i in range(start, min(fake, start + 2000))
            )
        store.upsert_many(result(p, i, file_fingerprint(p)) for i, p in enumerate(photos))


def bench_list(c, drafts: int) -> list[tuple[str, float]]:
    def timed(call, repeat: int = 20) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    half = drafts // 2
    middle = c.review_list("/library", limit=200, after=f"/library/{half // 1000:03d}/{half:06d}.jpg")
    return [
        ("first page of 200 (all drafts)", timed(lambda: c.review_list("/library", limit=200))),
        (
            "page deep in the list (after=…)",
            timed(lambda: c.review_list("/library", limit=200, after=middle.drafts[0].path)),
        ),
        (
            "filtered: kw:beach -kw:dog status:pending",
            timed(lambda: c.review_list("/library", "kw:beach -kw:dog status:pending")),
        ),
        ("all-keywords counts over every draft", timed(lambda: c.review_keywords("/library"), repeat=3)),
    ]


async def edit_round_trips(n: int) -> tuple[list[float], list[float]]:
    """(reply times, event times): A edits, B (a second client, as another TUI) sees the event."""
    from imageworks.client import AsyncClient
    from imageworks.review.edits import SetCaption

    a, b = AsyncClient("bench-a"), AsyncClient("bench-b")
    events = b.review_events()
    paths = [d.path for d in (await a.review_list("/library", limit=n)).drafts]
    sent: dict[str, float] = {}
    replies, arrivals = [], []
    got = asyncio.Event()

    async def listen() -> None:
        async for event in events:
            for draft in event.drafts:
                started = sent.pop(draft.edited.caption, None)
                if started is not None:
                    arrivals.append((time.perf_counter() - started) * 1000)
                    got.set()

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)  # the subscription takes effect a moment after it is made
    for i, path in enumerate(paths):
        draft = await a.review_get(path)
        caption = f"edited {i}"
        t0 = time.perf_counter()
        sent[caption] = t0
        got.clear()
        await a.review_edit(SetCaption(path=path, caption=caption), draft.version)
        replies.append((time.perf_counter() - t0) * 1000)
        await asyncio.wait_for(got.wait(), 5)
    listener.cancel()
    a.close()
    b.close()
    return replies, arrivals


def commit_vs_direct(c, photos: list[str], root: Path, rounds: int = 6) -> tuple[float, float]:
    """Files/s: the daemon's commit job vs the metadata writer called directly on a copy of the same files, in
    interleaved rounds (a slice of the files each way per round: the machine's load drifts, and both see it)."""
    from imageworks import metadata as md
    from imageworks.review.commit import proposed_values
    from imageworks.review.edits import ApproveAll, Selection

    twins = root / "twins"
    shutil.copytree(Path(photos[0]).parent, twins)
    c.review_batch(ApproveAll(selection=Selection(paths=tuple(photos))))
    drafts = [c.review_get(p) for p in photos]
    size = -(-len(photos) // rounds)
    direct_s = commit_s = 0.0
    for start in range(0, len(photos), size):
        chunk = drafts[start : start + size]
        t0 = time.perf_counter()
        for draft in chunk:
            plan = md.plan(str(twins / Path(draft.path).name), proposed_values(draft), "merge")
            assert plan.has_changes
            md.apply(plan, job_id="direct")
        direct_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        job = c.review_commit(paths=[d.path for d in chunk]).job
        final = list(c.follow(job.job_id))[-1]
        commit_s += time.perf_counter() - t0
        assert final.state == "done" and final.done == len(chunk), final
    return len(photos) / direct_s, len(photos) / commit_s


def second_round(c, photos: list[str]) -> float:
    """Files/s of a second commit of the same drafts, each with a corrected caption (written over our first)."""
    from imageworks.review.edits import ApproveAll, Selection, SetCaption

    for path in photos:
        c.review_edit(SetCaption(path=path, caption=f"corrected {Path(path).stem}"), c.review_get(path).version)
    c.review_batch(ApproveAll(selection=Selection(paths=tuple(photos))))
    t0 = time.perf_counter()
    job = c.review_commit(paths=photos).job
    updates = list(c.follow(job.job_id))
    took = time.perf_counter() - t0
    actions = {u.record.action for u in updates if hasattr(u, "record")}
    assert updates[-1].state == "done" and actions <= {"written"}, (updates[-1], actions)
    return len(photos) / took


def keep_rates(images: int = 400) -> tuple[float, float]:
    """A scripted session: the library holds the photographer's words (some in a hierarchy); the model proposes
    them, variants of them (plural, case) and synonyms the person always renames. The person keeps a keyword offered
    in their own spelling (and one new word they like), renames a known synonym, rejects the rest. Returns the share
    of offered keywords kept as offered: without, then with mapping onto the vocabulary (and its rename memory)."""
    from imageworks.review.drafts import DraftKeyword, FileFingerprint, Generated, Origin, Values
    from imageworks.review.edits import RenameKeyword
    from imageworks.review.store import DraftStore
    from imageworks.review.vocabulary import Vocabulary

    library = {"dog": 40, "beach": 55, "sunset": 30, "Sea": 25, "flower": 12}
    hierarchical = {"Animals|dog": 40, "Places|beach": 55}
    liked = {"tree"}
    synonyms = {"puppy": "dog", "doggy": "dog", "seaside": "beach", "dusk": "sunset"}
    proposals = ["dog", "beach", "sunset", "dogs", "Dog", "puppy", "doggy", "beaches", "seaside", "sea", "Sunsets",
                 "dusk", "flowers", "tree", "sky", "blue"]  # fmt: skip
    rng = random.Random(7)
    sessions = [rng.sample(proposals, 5) for _ in range(images)]
    fingerprint = FileFingerprint(size=1, mtime_ns=1)
    rates = []
    for mapped in (False, True):
        with tempfile.TemporaryDirectory() as tmp, DraftStore(Path(tmp) / "drafts.sqlite3") as store:
            offered = kept = 0
            for i, words in enumerate(sessions):
                vocabulary = None
                if mapped:  # as the daemon does: the library, plus the renames made so far
                    vocabulary = Vocabulary.build(library=library, hierarchical=hierarchical, renames=store.renames())
                values = Values(keywords=tuple(DraftKeyword(keyword=w) for w in words))
                origin = Origin(job_id="session", item=i)
                generated = Generated(path=f"/s/{i}.jpg", origin=origin, values=values, fingerprint=fingerprint)
                draft = store.upsert_generated(generated, vocabulary)
                for keyword in draft.edited.keywords:
                    offered += 1
                    if keyword.keyword in library or keyword.keyword in liked:
                        kept += 1
                    elif (new := synonyms.get(keyword.keyword.casefold())) is not None:
                        draft = store.apply(RenameKeyword(path=draft.path, old=keyword.keyword, new=new), draft.version)
            rates.append(kept / offered)
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drafts", type=int, default=20_000)
    ap.add_argument("--edits", type=int, default=500)
    ap.add_argument("--commit-files", type=int, default=300)
    args = ap.parse_args()
    root = isolate()
    photos = make_photos(root / "photos", args.commit_files)
    t0 = time.perf_counter()
    seed(args.drafts, photos)
    seeded = time.perf_counter() - t0
    from imageworks import client

    try:
        with foreground_daemon():
            with client.Client("bench") as c:
                lists = bench_list(c, args.drafts)
                replies, arrivals = asyncio.run(edit_round_trips(args.edits))
                direct, committed = commit_vs_direct(c, photos, root)
                again = second_round(c, photos)
                c.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    before, after = keep_rates()

    print(f"{args.drafts + len(photos)} drafts (seeded in {seeded:.1f} s)")
    for label, ms in lists:
        print(f"  review.list {label:44} {ms:8.2f} ms (median)")
    print(f"edit round trip over ipc, {len(arrivals)} edits (ms):   p50      p99      max")
    for label, values in (("A's reply", replies), ("B sees A's edit (event)", arrivals)):
        p50, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"  {label:38} {p50:7.2f}  {p99:7.2f}  {max(values):7.2f}")
    print(f"  goal p99 < 20 ms: {'met' if percentile(arrivals, 0.99) < 20 else 'MISSED'}")
    ratio = committed / direct
    print(
        f"commit {len(photos)} files: daemon commit job {committed:.1f} files/s, writer directly {direct:.1f} files/s"
    )
    print(f"  ratio {ratio:.2f}x (goal >= 0.9x: {'met' if ratio >= 0.9 else 'MISSED'})")
    print(f"  second round (corrected captions, written over our first write): {again:.1f} files/s")
    print(f"keep-rate of proposed keywords (scripted session): {before:.0%} without mapping, {after:.0%} with mapping")


if __name__ == "__main__":
    main()
