"""Undoing a move: the daemon remembers every ``move`` job in its journal (a ``MoveRecord`` per photo: from, to, and
its files as the move left them), so an undo is a ``move`` job back whose items it makes from those records.

``{"undo": ""}`` undoes the newest move no undo has been asked for yet (again: the one before it); ``{"undo": ID}``
that job, its photos not already put back (a second try, once a changed file or a taken name is dealt with).
"""

from __future__ import annotations

from typing import Any

from imageworks.errors import DaemonError
from imageworks.jobs.records import MoveRecord
from imageworks.similarity.moves import undo_item

from .journal import Journal

PAGE = 500


def undo_plan(journal: Journal, asked: object) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The items and params of the ``move`` job that undoes the move ``asked`` names ("" for the last one)."""
    if not isinstance(asked, str):
        raise DaemonError('move job: params.undo must be a move job\'s id, or "" for the last move', code="bad_request")
    jobs = journal.jobs_of_kind("move")
    undos = [j for j in jobs if j.params.get("undo")]
    moves = [j for j in jobs if not j.params.get("undo")]
    if asked:
        target = next((j for j in moves if j.job_id == asked), None)
        if target is None:
            raise DaemonError(f"no move job {asked} to undo (`imageworks jobs` lists the jobs)", code="bad_request")
    else:
        asked_for = {j.params["undo"] for j in undos}
        target = next((j for j in moves if j.job_id not in asked_for), None)
        if target is None:
            raise DaemonError("nothing to undo: every move has been undone", code="bad_request")
    if target.state in ("queued", "running"):
        raise DaemonError(f"move job {target.job_id} is still {target.state}: undo it once it ends", code="bad_request")
    back = {r.path for u in undos if u.params["undo"] == target.job_id for r in _moved(journal, u.job_id)}
    items = [undo_item(r) for r in _moved(journal, target.job_id) if r.to not in back]
    if not items:
        raise DaemonError(f"nothing to undo: the photos move job {target.job_id} moved are back", code="bad_request")
    return items, {"undo": target.job_id}


def _moved(journal: Journal, job_id: str) -> list[MoveRecord]:
    """The photos ``job_id`` moved (its records that say so)."""
    found: list[MoveRecord] = []
    after, more = 0, True
    while more:
        page, more = journal.results_after(job_id, after, PAGE)
        found += [r.record for r in page if isinstance(r.record, MoveRecord) and r.record.status == "ok"]
        after = page[-1].seq if page else after
    return found
