"""Similar photos: the gated compute (scan listing -> hashes -> neighbour search, in an App-owned worker), instant
re-grouping at a new threshold (from the groups already found: nothing is hashed, embedded or searched), keep/reject
marks (persisted in the state dir) and moving the rejects to a folder (never deleting anything).

``imageworks.similarity`` (numpy and friends) is imported on the first compute, never at start-up."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from textual.message import Message

from tui.services.messages import Failed
from tui.services.scan import ScanService
from tui.services.settings import Settings
from tui.services.workers import Workers

if TYPE_CHECKING:
    from imageworks.similarity import Bands, DaemonEmbeddings, Group, SimilarityCache, SimilarityResult
    from imageworks.similarity.marks import MarkStore, MoveReport
    from tui.services.daemon import DaemonLink

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
    root: str = ""
    """The library the groups are of (absolute)."""
    images: int = 0
    skipped: tuple[str, ...] = ()
    """``name: problem`` per unreadable file, left out of the comparison."""
    groups: tuple[Group, ...] = ()
    marks: dict[str, str] = msgspec.field(default_factory=dict)
    """path -> keep/reject, for the images in ``groups``."""

    @property
    def rejects(self) -> list[str]:
        shown = {p for g in self.groups for p in g.paths}
        return sorted(p for p, mark in self.marks.items() if mark == "reject" and p in shown)


class SimilarService:
    """One per App; all state changes happen on the App's thread (workers report through ``from_thread``)."""

    class Changed(Message):
        def __init__(self, view: SimilarView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, workers: Workers, settings: Settings, scanning: ScanService, daemon: DaemonLink) -> None:
        self.workers = workers
        self.daemon = daemon
        self.settings = settings
        self.scanning = scanning
        self.view = SimilarView(threshold=settings.config.similarity.similar)
        self._found: list[Group] = []
        """The groups at the searched floor: every stored link at or above it, so any higher threshold re-groups
        from these alone."""
        self._cache: SimilarityCache | None = None
        self._marks: MarkStore | None = None
        self.searches = 0
        """Neighbour searches run (0 for a compute answered from the stored search)."""
        self.regroups = 0

    # ---- state -------------------------------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """For the Debug panel: a threshold change moves ``regroups`` only."""
        return {
            "hashes computed": self._cache.hashes_computed if self._cache is not None else 0,
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

    @property
    def cache(self) -> SimilarityCache:
        """Opened by the first compute's worker (one compute at a time: no race)."""
        if self._cache is None:
            from imageworks.similarity import SimilarityCache

            self._cache = SimilarityCache()
        return self._cache

    @property
    def marks(self) -> MarkStore:
        if self._marks is None:
            from imageworks.similarity.marks import MarkStore

            self._marks = MarkStore()
        return self._marks

    # ---- the gated compute -------------------------------------------------------------------------------------

    def blocked(self) -> str:
        """Why the compute key would start nothing ("" when it may run)."""
        if not self.scanning.root:
            return "set a library root first (Configure, 1)"
        if self.view.state == "computing":
            return "already computing"
        return ""

    def compute(self) -> None:
        """The compute key: list the library (the cached listing when fresh), hash new or changed files, search
        neighbours at the lower of the threshold and the similar band, group. Costs are paid once: a second compute
        over unchanged files hashes and searches nothing."""
        if why := self.blocked():
            self.workers.post(Failed(why, where="similar"))
            return
        root = str(Path(self.scanning.root).expanduser().resolve())
        method, threshold = self.view.method, self.view.threshold
        floor = min(threshold, self.settings.config.similarity.similar)
        self._publish(state="computing", message="listing the library…", root=root)

        def work() -> None:
            from imageworks.errors import ImageWorksError

            try:
                result = self._search(root, method, floor)
            except ImageWorksError as exc:
                self.workers.from_thread(self._publish, state="error", message=str(exc))
                return
            except Exception:
                self.workers.from_thread(self._publish, state="error", message="computing failed")
                raise  # the worker guard logs it and toasts one line
            self.workers.from_thread(self._computed, result)

        self.workers.thread(work, group="similar", where="similar")

    def _search(self, root: str, method: str, floor: float) -> SimilarityResult:
        from imageworks.similarity import find_similar

        cache = self.scanning.scan_cache
        cache.scan(root)
        filters, _ = self.scanning.filters()
        photos = [e.path for e in cache.query(root, filters) if not e.is_raw]
        last = [0.0]

        def progress(done: int, total: int, what: str = "hashing") -> None:
            now = time.monotonic()
            if now - last[0] > PROGRESS_S or done == total:
                last[0] = now
                self.workers.from_thread(self._publish, message=f"{what} {done:,}/{total:,}…")

        self.workers.from_thread(self._publish, message=f"comparing {len(photos):,} images…")
        return find_similar(
            photos,
            method=method,  # type: ignore[arg-type]
            threshold=floor,
            settings=self.settings.config.similarity,
            cache=self.cache,
            embeddings=self._embeddings() if method != "hash" else None,
            scope=root,  # the CLI's scope for the same folder: the two share the stored search
            progress=progress,
        )

    def _embeddings(self) -> DaemonEmbeddings | None:
        """The daemon's embed slot with ``[similarity] embedding_model`` (None when none is configured: the core then
        says in one line that embeddings need a model); the model loads there only on this explicit compute. Asked
        through the App's one client: the search runs on a worker thread, its requests on the App's loop."""
        from imageworks.similarity import DaemonEmbeddings
        from tui.services.client import SharedClientFromThread

        model = self.settings.config.similarity.embedding_model
        if not model:
            return None

        def connect() -> SharedClientFromThread:
            return SharedClientFromThread(lambda: self.daemon.client, self.workers.from_thread)

        def on_load(name: str) -> None:
            self.workers.from_thread(self._publish, message=f"loading the embedding model {name}…")

        return DaemonEmbeddings(model, connect, on_load)

    def _computed(self, result: SimilarityResult) -> None:
        self._found = list(result.groups)
        self.searches += result.searched
        how = f"{result.hashed:,} hashed" if result.searched else "from stored neighbours"
        self._publish(
            state="done",
            floor=result.threshold,
            images=result.images,
            skipped=tuple(f"{Path(s.path).name}: {s.problem}" for s in result.skipped),
            message=how,
        )
        self._regroup()
        if skipped := self.view.skipped:  # named, one line each, as the CLI reports them (a toast is no log)
            more = f"\n… {len(skipped) - SKIPPED_SHOWN:,} more" if len(skipped) > SKIPPED_SHOWN else ""
            self.workers.notify(f"skipped {len(skipped):,}:\n" + "\n".join(skipped[:SKIPPED_SHOWN]) + more)

    # ---- instant re-grouping -----------------------------------------------------------------------------------

    def set_threshold(self, threshold: float) -> None:
        """Re-group at ``threshold`` from the groups found (no hashing, no embedding, no search); below the searched
        floor the groups stay as found and the message says a compute is needed."""
        low, high = THRESHOLD_RANGE
        self.view = msgspec.structs.replace(self.view, threshold=round(min(high, max(low, threshold)), 2))
        self._regroup()

    def _regroup(self, *, without: frozenset[str] = frozenset()) -> None:
        view = self.view
        if view.floor is None or view.state == "computing":
            self._publish()
            return
        from imageworks.similarity import regroup

        self.regroups += 1
        if without:
            self._found = regroup(self._found, view.floor, self.bands, without=without)
        if view.threshold < view.floor - 1e-9:
            groups = self._found
            note = f"below the searched {view.floor:.2f}: c searches again (hashes are cached)"
        else:
            groups = regroup(self._found, view.threshold, self.bands)
            note = ""
        shown = [p for g in groups for p in g.paths]
        self._publish(groups=tuple(groups), marks=self.marks.marks_of(shown), message=note or view.message)

    def set_method(self, method: str) -> None:
        """Another method needs another search: the groups are dropped until the next compute."""
        if method not in METHODS or method == self.view.method:
            return
        self._found = []
        self._publish(method=method, floor=None, groups=(), marks={}, state="idle", message=f"c computes with {method}")

    # ---- marks and moving rejects ------------------------------------------------------------------------------

    def mark(self, photo: str, mark: str) -> None:
        """Set ``photo``'s mark, or clear it when it already has that one; persisted at once."""
        new = None if self.view.marks.get(photo) == mark else mark
        self.marks.set(photo, new)  # type: ignore[arg-type]
        marks = {p: m for p, m in self.view.marks.items() if p != photo}
        if new is not None:
            marks[photo] = new
        self._publish(marks=marks)

    def keep_only(self, photo: str, group: Group) -> None:
        """Keep ``photo`` and reject the rest of its group (persisted at once)."""
        marks = dict(self.view.marks)
        for path in group.paths:
            marks[path] = "keep" if path == photo else "reject"
            self.marks.set(path, marks[path])  # type: ignore[arg-type]
        self._publish(marks=marks)

    def reject_folder(self) -> str:
        """Where the rejects go: a folder beside the library (inside it, the next scan would list them again)."""
        return f"{self.view.root}-rejects"

    def move_rejects(self) -> None:
        """Move the shown images marked reject (with their sidecars) to ``reject_folder()``. Behind the confirmation
        modal (the caller asks); nothing is deleted."""
        photos, folder = self.view.rejects, self.reject_folder()
        if not photos:
            return

        def work() -> None:
            from imageworks.similarity.marks import move_to_folder

            self.workers.from_thread(self._moved, move_to_folder(photos, folder), folder)

        self.workers.thread(work, group="similar-move", where="move rejects")

    def _moved(self, report: MoveReport, folder: str) -> None:
        self.marks.moved(report.moved)
        self._regroup(without=frozenset(src for src, _ in report.moved))
        text = f"moved {len(report.moved):,} rejects to {folder}"
        if report.failed:
            photo, why = report.failed[0]
            text += f"; {len(report.failed):,} not moved ({Path(photo).name}: {why})"
        self.workers.notify(text)
