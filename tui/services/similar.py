"""Similar photos: the gated compute (a ``similar`` job in the daemon, which lists the library, hashes what its cache
lacks in its process pool, embeds and searches; this service follows its progress and asks for the groups), instant
re-grouping at a new threshold (from the groups at the searched floor: nothing is hashed, embedded or searched),
keep/reject marks (kept by the daemon) and moving the rejects to a folder (a ``move`` job: never deleting anything;
the moved photos' drafts and marks follow them). The TUI itself starts no process and writes no store.

``imageworks.similarity`` (numpy) is imported on the first re-grouping, never at start-up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from textual.message import Message

from imageworks.scan import display_path

from .messages import Failed
from .scan import ScanService
from .settings import Settings
from .similar_steps import method_step, next_threshold, on_grid
from .workers import Workers

if TYPE_CHECKING:
    from imageworks import protocol as P
    from imageworks.jobs.records import MoveRecord
    from imageworks.similarity import Bands, Group, Links

    from .daemon import DaemonLink

METHODS = ("hash", "embedding", "both")
THRESHOLD_RANGE = (0.5, 1.0)
"""What the threshold control offers (below 0.5 a hash pair is no likelier than two random images)."""
SKIPPED_SHOWN = 3
"""Unreadable files named in the toast after a compute."""
PROGRESS_S = 0.2
"""Progress messages replace one another at most this often."""


class SimilarView(msgspec.Struct, frozen=True, kw_only=True):
    """What the Similar mode shows; a new value per change."""

    state: str = "idle"
    """idle, computing, done, error."""
    message: str = ""
    method: str = "hash"
    threshold: float = 0.82
    floor: float | None = None
    """The threshold the groups were searched at (re-grouping works at or above it); None: nothing computed."""
    step: float = 0.01
    """What one threshold key moves it by: the smallest change that can change the groups (one hash bit)."""
    reference: str = "largest"
    """The rule each group's reference is chosen by (``similarity.quality.REFERENCE_RULES``): the person's choice."""
    reference_rule: str = ""
    """That rule as said ("largest, then sharpest"), once groups are shown."""
    root: str = ""
    """The library the groups are of (absolute)."""
    images: int = 0
    """Images compared, less those moved away since."""
    skipped: tuple[str, ...] = ()
    """``name: problem`` per unreadable file, left out of the comparison."""
    groups: tuple[Group, ...] = ()
    marks: dict[str, str] = msgspec.field(default_factory=dict)
    """path -> keep/reject, for the images in ``groups``."""

    @property
    def hash_bits(self) -> int:
        """Bits of the hashes when the threshold moves one hash bit at a time (the hash method), else 0."""
        return round(1 / self.step) if self.method == "hash" else 0

    @property
    def rejects(self) -> list[str]:
        shown = {p for g in self.groups for p in g.paths}
        return sorted(p for p, mark in self.marks.items() if mark == "reject" and p in shown)


class SimilarService:
    """One per App; all state changes happen on the App's loop (its async workers ask the daemon)."""

    class Changed(Message):
        def __init__(self, view: SimilarView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, workers: Workers, settings: Settings, scanning: ScanService, daemon: DaemonLink) -> None:
        self.workers = workers
        self.daemon = daemon
        self.settings = settings
        self.scanning = scanning
        similarity = settings.config.similarity
        step = method_step("hash", similarity.hash_size)
        self.view = SimilarView(threshold=on_grid(similarity.similar, step), step=step)
        self._links: Links | None = None
        """Every stored link at or above the searched floor: any higher threshold re-groups from these alone."""
        self._gone: set[str] = set()
        """Photos moved away since the compute: left out of every grouping (a move undone puts them back)."""
        self._gone_marks: dict[str, str] = {}
        """The marks the photos moved away had (the daemon moves them back with an undo; shown again then)."""
        self.hashed = 0
        """Images the daemon hashed for this app's computes."""
        self.searches = 0
        """Neighbour searches run (0 for a compute answered from the stored search)."""
        self.regroups = 0

    # ---- state -------------------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """For the Debug panel: a threshold change moves ``regroups`` only."""
        return {
            "hashes computed": self.hashed,
            "similarity searches": self.searches,
            "similarity regroups": self.regroups,
        }

    def _publish(self, **changes: Any) -> None:
        self.view = msgspec.structs.replace(self.view, **changes)
        self.workers.post(self.Changed(self.view))

    @property
    def bands(self) -> Bands:
        from imageworks.similarity import Bands

        cfg = self.settings.config.similarity
        return Bands(duplicate=cfg.duplicate, similar=cfg.similar)

    # ---- the gated compute -------------------------------------------------------------------------------------

    def blocked(self) -> str:
        """Why the compute key would start nothing ("" when it may run)."""
        if not self.scanning.root:
            return f"set a library root first (Configure, {self.workers.key_for('app.mode.configure')})"
        if self.view.state == "computing":
            return "already computing"
        return ""

    def compute(self) -> None:
        """The compute key: a ``similar`` job in the daemon (listing, hashing what its cache lacks, searching at the
        lower of the threshold and the similar band), followed here, then the groups at that floor. Costs are paid
        once: a second compute over unchanged files hashes and searches nothing, and a second client computing the
        same library meanwhile joins the same job."""
        if why := self.blocked():
            self.workers.post(Failed(why, where="similar"))
            return
        root = str(Path(self.scanning.root).expanduser().resolve())
        method, threshold = self.view.method, self.view.threshold
        floor = min(threshold, self.settings.config.similarity.similar)
        self._publish(state="computing", message="asking the daemon…", root=root)

        async def work() -> None:
            from imageworks.errors import ImageWorksError

            try:
                job, reply = await self._search(root, method, floor)
            except ImageWorksError as exc:
                self._publish(state="error", message=str(exc))
                return
            except Exception:
                self._publish(state="error", message="computing failed")
                raise  # the worker guard logs it and toasts one line
            self._computed(job, reply)

        self.workers.task(work, group="similar", where="similar")

    async def _search(self, root: str, method: str, floor: float) -> tuple[P.JobInfo, P.SimilarGroupsReply]:
        from imageworks import protocol as P
        from imageworks.errors import ImageWorksError
        from imageworks.similarity.jobs import needs_model, similar_params

        config = self.settings.config
        if method != "hash" and not config.similarity.embedding_model:
            raise ImageWorksError(needs_model(method))
        filters, _ = self.scanning.filters()
        params = similar_params(
            root,
            method=method,
            floor=floor,
            settings=config.similarity,
            filters={k: v for k, v in msgspec.structs.asdict(filters).items() if v not in (None, ())},
            ttl=config.scan.ttl_seconds,
            follow_symlinks=config.scan.follow_symlinks,
        )
        client = self.daemon.client
        job = (await client.submit("similar", [], params)).job
        hashed, last = 0, 0.0
        stream = client.follow(job.job_id, progress=True)
        try:
            async for event in stream:
                if isinstance(event, P.ResultRecord):
                    hashed += 1
                    text = f"hashing {hashed:,}/{job.total:,}…"
                elif isinstance(event, P.JobProgressEvent):
                    counted = f" {event.done:,}/{event.total:,}" if event.total else ""
                    text = f"{event.message}{counted}…"
                else:
                    job = event
                    continue
                if (now := time.monotonic()) - last > PROGRESS_S:
                    last = now
                    self._publish(message=text)
        finally:
            await stream.aclose()
        if job.state != "done":
            raise ImageWorksError(job.error or f"the similar job ended {job.state}")
        self.hashed += job.done + job.failed
        return job, await client.similar_groups(job.job_id, floor, self.view.reference)

    def _computed(self, job: P.JobInfo, reply: P.SimilarGroupsReply) -> None:
        outcome = job.outcome
        searched = bool(outcome is not None and outcome.searched)
        self.hashed += outcome.hashed if outcome is not None else 0
        self._links, self._gone = reply.links, set()
        self.searches += searched
        hashed = job.done + job.failed + (outcome.hashed if outcome is not None else 0)
        how = f"{hashed:,} hashed" if searched else "from stored neighbours"
        self._publish(
            state="done",
            floor=reply.threshold,
            step=reply.step,
            reference_rule=reply.reference_rule,
            threshold=on_grid(self.view.threshold, reply.step),
            images=reply.images,
            skipped=tuple(f"{display_path(Path(s.path).name)}: {s.problem}" for s in reply.skipped),
            marks={m.path: m.mark for m in reply.marks},
            message=how,
        )
        self._regroup()
        if skipped := self.view.skipped:  # named, one line each, as the CLI reports them (a toast is no log)
            more = f"\n… {len(skipped) - SKIPPED_SHOWN:,} more" if len(skipped) > SKIPPED_SHOWN else ""
            self.workers.notify(f"skipped {len(skipped):,}:\n" + "\n".join(skipped[:SKIPPED_SHOWN]) + more)

    # ---- instant re-grouping -----------------------------------------------------------------------------------

    def step_threshold(self, steps: int) -> None:
        """The threshold keys: ``steps`` of the view's step (one hash bit for hashes), from the service's own view,
        which every key read before has already moved."""
        self.set_threshold(next_threshold(self.view.threshold, steps, self.view.step))

    def set_threshold(self, threshold: float) -> None:
        """Re-group at ``threshold`` from the links found (no hashing, no embedding, no search); below the searched
        floor the groups stay as found and the message says a compute is needed."""
        low, high = THRESHOLD_RANGE
        self.view = msgspec.structs.replace(self.view, threshold=round(min(high, max(low, threshold)), 6))
        self._regroup()

    def _regroup(self) -> None:
        view = self.view
        if view.floor is None or view.state == "computing" or self._links is None:
            self._publish()
            return
        from imageworks.similarity import groups_from_links

        self.regroups += 1
        below = view.threshold < view.floor - 1e-9
        again = f"{self.workers.key_for('similar.compute')} searches again (hashes are cached)"
        note = f"below the searched {view.floor:.2f}: {again}" if below else ""
        at = view.floor if below else view.threshold
        groups = groups_from_links(self._links, at, self.bands, without=frozenset(self._gone), rule=view.reference)
        self._publish(groups=tuple(groups), message=note or view.message)

    def cycle_reference(self) -> None:
        """The reference key: the next rule (largest, sharpest, earliest) re-groups at once from the links found."""
        from imageworks.similarity.quality import REFERENCE_RULES

        rules = list(REFERENCE_RULES)
        rule = rules[(rules.index(self.view.reference) + 1) % len(rules)]
        said = REFERENCE_RULES[rule] if self.view.reference_rule else ""  # said once groups are shown
        self.view = msgspec.structs.replace(self.view, reference=rule, reference_rule=said)
        self._regroup()

    def set_method(self, method: str) -> None:
        """Another method needs another search: the groups are dropped until the next compute."""
        if method not in METHODS or method == self.view.method:
            return
        self._links, self._gone = None, set()
        self._publish(
            method=method,
            step=method_step(method, self.settings.config.similarity.hash_size),
            floor=None,
            groups=(),
            marks={},
            state="idle",
            message=f"{self.workers.key_for('similar.compute')} computes with {method}",
        )

    # ---- marks (kept by the daemon) and moving rejects (a move job) ----------------------------------------------

    def mark(self, photo: str, mark: str) -> None:
        """Set ``photo``'s mark, or clear it when it already has that one."""
        new = None if self.view.marks.get(photo) == mark else mark
        self._set_marks({photo: new})

    def keep_only(self, photo: str, group: Group) -> None:
        """Keep ``photo`` and reject the rest of its group."""
        self._set_marks({path: "keep" if path == photo else "reject" for path in group.paths})

    def _set_marks(self, wanted: dict[str, str | None]) -> None:
        """Shown at once; the daemon's answer (what it keeps) replaces them when it comes."""
        marks = {p: m for p, m in self.view.marks.items() if p not in wanted}
        marks.update({p: m for p, m in wanted.items() if m is not None})
        self._publish(marks=marks)

        async def work() -> None:
            kept: dict[str, str] = {}
            for value in ("keep", "reject", None):
                paths = [p for p, m in wanted.items() if m == value]
                if paths:
                    reply = await self.daemon.client.similar_mark(paths, value)
                    kept.update({m.path: m.mark for m in reply.marks})
            now = {p: m for p, m in self.view.marks.items() if p not in wanted}
            self._publish(marks={**now, **kept})

        self.workers.task(work, group="similar-marks", exclusive=False, where="marks")

    def reject_folder(self) -> str:
        """Where the rejects go: a folder beside the library (inside it, the next scan would list them again)."""
        return f"{self.view.root}-rejects"

    def move_rejects(self) -> None:
        """Move the shown images marked reject (with their sidecars) to ``reject_folder()``: a ``move`` job in the
        daemon, which updates their drafts and marks. Behind the confirmation modal (the caller asks); nothing is
        deleted."""
        photos, folder = self.view.rejects, self.reject_folder()
        if not photos:
            return

        async def work() -> None:
            moved, failed = await self._move_job([{"path": p} for p in photos], {"folder": folder})
            self._moved([(r.path, r.to) for r in moved], failed, folder)

        self.workers.task(work, group="similar-move", where="move rejects")

    def undo_move(self) -> None:
        """The undo key: the daemon puts back the photos of the last move (a ``move`` job back, made from its journal:
        sidecars, marks and drafts go back with them); one it refuses (changed since, its old name taken) is named."""

        async def work() -> None:
            back, refused = await self._move_job([], {"undo": ""})
            self._put_back(back, refused)

        self.workers.task(work, group="similar-move", where="undo move")

    async def _move_job(
        self, items: list[dict[str, Any]], params: dict[str, Any]
    ) -> tuple[list[MoveRecord], list[tuple[str, str]]]:
        """Run a ``move`` job in the daemon: the photos it moved, and (photo, why) per one it left or left part of."""
        from imageworks import protocol as P
        from imageworks.jobs.records import MoveRecord

        client = self.daemon.client
        job = (await client.submit("move", items, params)).job
        moved: list[MoveRecord] = []
        failed: list[tuple[str, str]] = []
        stream = client.follow(job.job_id)
        try:
            async for event in stream:
                if isinstance(event, P.ResultRecord) and isinstance(event.record, MoveRecord):
                    record = event.record
                    if record.status == "ok":
                        moved.append(record)
                    failed.extend((record.path or str(event.item.get("path")), why) for why in record.problems)
                    if record.status != "ok":
                        photo = event.item.get("back") or event.item.get("path")
                        failed.append((str(photo), record.error or "not moved"))
        finally:
            await stream.aclose()
        return moved, failed

    def _moved(self, moved: list[tuple[str, str]], failed: list[tuple[str, str]], folder: str) -> None:
        gone = {src for src, _ in moved}
        self._gone |= gone
        self._gone_marks.update({p: m for p, m in self.view.marks.items() if p in gone})
        marks = {p: m for p, m in self.view.marks.items() if p not in gone}
        self._publish(marks=marks, images=self.view.images - len(gone))
        self._regroup()
        text = f"moved {len(moved):,} rejects to {folder}"
        if failed:
            photo, why = failed[0]
            text += f"; {len(failed):,} not moved ({display_path(Path(photo).name)}: {display_path(why)})"
        self.workers.notify(text)

    def _put_back(self, back: list[MoveRecord], refused: list[tuple[str, str]]) -> None:
        """Photos the daemon put back (``record.to``): grouped and counted again, their marks shown again."""
        returned = {r.to for r in back} & self._gone
        self._gone -= returned
        marks = {**self.view.marks, **{p: m for p, m in self._gone_marks.items() if p in returned}}
        self._publish(marks=marks, images=self.view.images + len(returned))
        self._regroup()
        text = f"put back {len(back):,} photo{'s' * (len(back) != 1)}"
        if refused:
            text += f"; {len(refused):,} stayed ({display_path(refused[0][1])})"
        self.workers.notify(text)
