"""One error type per layer (imageworks/errors.py): every exception class of the tree descends from
``ImageWorksError`` and carries its code, so the daemon answers a failed request with the exception's own code and
message and keeps no table of types."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

from imageworks import protocol as P
from imageworks.daemon.backends.images import ImageReadError
from imageworks.daemon.journal import JournalWriteError
from imageworks.daemon.openai.chat import Refusal, bad_request
from imageworks.daemon.server import Daemon
from imageworks.daemon.workers.base import WorkerCrashed
from imageworks.errors import ConfigError, DaemonError, ImageWorksError, ProtocolError
from imageworks.jobs.base import BadJobParams
from imageworks.metadata import MetadataError
from imageworks.review.drafts import Conflict, ReviewError, UnknownDraft
from imageworks.review.query import QueryError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "imageworks", ROOT / "daemon", ROOT / "tui"]


def exception_roots() -> dict[str, list[str]]:
    """file -> the classes defined there directly on Exception or BaseException."""
    found: dict[str, list[str]] = {}
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(("imageworks/daemon/", "imageworks/tui/")):
                continue  # the links to daemon/ and tui/, read from their own folders
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                    if bases & {"Exception", "BaseException"}:
                        found.setdefault(rel, []).append(node.name)
    return found


def test_every_exception_of_the_tree_descends_from_imageworks_error() -> None:
    roots = exception_roots()
    # private control flow (a walk restarted, a damaged cache moved aside) never reaches a person
    private = {f: names for f, names in roots.items() if all(n.startswith("_") for n in names)}
    assert {f: n for f, n in roots.items() if f not in private} == {"imageworks/errors.py": ["ImageWorksError"]}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (DaemonError("no job 'x' in the journal", code="unknown_job"), "unknown_job"),
        (BadJobParams("tag job: bad params"), "bad_request"),
        (ReviewError("empty keyword ''"), "bad_request"),
        (QueryError(3, "unknown field 'colour'"), "bad_request"),
        (UnknownDraft("/p.jpg: no draft (tag it first)"), "unknown_draft"),
        (Conflict("/p.jpg", 1, 2, "", ""), "conflict"),
        (WorkerCrashed("worker exited (SIGKILL)"), "model_error"),
        (ImageReadError("cannot read image /p.jpg"), "bad_image"),
        (JournalWriteError(Path("/j.sqlite3"), sqlite3.OperationalError("disk is full")), "state_disk_full"),
        (MetadataError("/p.jpg: changed on disk", code="changed"), "changed"),
        (ConfigError("model.batch_size: expected int"), "bad_config"),
        (ProtocolError("bad frame"), "bad_request"),
    ],
)
def test_the_daemon_replies_with_the_exceptions_own_code_and_message(error: ImageWorksError, code: str) -> None:
    reply = Daemon._error_reply(Daemon.__new__(Daemon), error, P.Ping())
    assert (reply.code, reply.message) == (code, str(error))


def test_anything_else_is_internal_and_named() -> None:
    reply = Daemon._error_reply(Daemon.__new__(Daemon), KeyError("slot"), P.Ping())
    assert reply.code == "internal" and reply.message == "KeyError: 'slot'"


def test_the_openai_endpoint_keeps_its_http_status_and_openai_code() -> None:
    refusal = bad_request("only n=1 is supported", "n")
    assert isinstance(refusal, Refusal) and isinstance(refusal, DaemonError)
    assert (refusal.status, refusal.code, refusal.param) == (400, "invalid_request", "n")
    assert Refusal(413, "too big").code == ""  # no OpenAI code: the body says null
