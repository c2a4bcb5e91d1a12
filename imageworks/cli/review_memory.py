"""The review's memory of our writes for a writer outside the daemon (``metadata write``; ``mono --write`` can do the
same): for the photos that have drafts, the daemon (their one writer) is asked what ImageWorks wrote there last and
told what was written after, so each draft shows what its file holds. Photos without a draft need no daemon.

    with ReviewMemory(paths) as memory:
        recalled = memory.recall(path)
        plan = md.plan(path, with_memory(proposed, recalled), mode); applied = md.apply(plan, job_id=job)
        if recalled.version: told.append(file_written(recalled, plan, applied, asked))
        memory.tell(told, job)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack

import click

from imageworks import client
from imageworks.cli.common import ensure_daemon
from imageworks.errors import DaemonError
from imageworks.review.rounds import FileWritten, Recalled
from imageworks.review.rows import drafted


class ReviewMemory:
    """What the review remembers of our writes, for the photos a writer names that have drafts: asked of the
    daemon (which keeps the drafts; started when one of them has a draft and none runs) and told after. Photos
    without a draft are written as they always were, with no daemon."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._keys = {path: _draft_keys(path) for path in paths}
        self._recalled: dict[str, Recalled] = {}
        self._client: client.Client | None = None
        self._stack = ExitStack()

    def __enter__(self) -> ReviewMemory:
        wanted = [key for keys in self._keys.values() for key in keys]
        if not drafted(wanted):  # read-only: no daemon is asked (or started) for photos without drafts
            return self
        try:
            ensure_daemon()
            self._client = self._stack.enter_context(client.Client("cli"))
            found = self._client.review_recall(wanted).files
        except BaseException:
            self._stack.close()
            raise
        self._recalled = {recalled.path: recalled for recalled in found if recalled.version}
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def recall(self, path: str) -> Recalled:
        found = next((self._recalled[key] for key in self._keys[path] if key in self._recalled), None)
        return found or Recalled(path=path)

    def tell(self, files: list[FileWritten], job_id: str) -> int:
        """Tell the daemon what was written; how many drafts now show it."""
        if not files or self._client is None:
            return 0
        try:
            return len(self._client.review_written(files, job_id).drafts)
        except DaemonError as exc:
            click.echo(f"note: the review drafts were not told ({exc}); they show their files as before", err=True)
            return 0


def _draft_keys(path: str) -> list[str]:
    """The paths a draft of ``path`` may be kept under: as given (made absolute), and with its links resolved."""
    given = os.path.abspath(os.path.expanduser(path))
    return list(dict.fromkeys([given, os.path.realpath(given)]))
