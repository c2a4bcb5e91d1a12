"""One process of the daemon's CPU pool (``python -m imageworks.daemon.cpu_worker``), and the typed messages its pipe
carries both ways.

The daemon writes ``RunItem``s to the child's stdin, one at a time per child, and ``CancelJob`` whenever a job is
cancelled; the child answers on its stdout with ``ItemProgress`` (within a long item), then ``ItemDone`` (the
kind's record, msgpack) or ``ItemRaised``. Frames are a 4-byte big-endian length and a msgpack body, a tagged union
(``op``). A reader thread in the child takes ``CancelJob`` at once (the main thread is busy in an item: a walk
checks the flag through its progress calls). Anything else the child prints goes to stderr, never into the pipe.
The child exits at EOF on stdin: when the daemon is gone, whatever killed it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import struct
import sys
import threading
import time
from collections import OrderedDict
from typing import Any, BinaryIO, TypeVar

import msgspec

from imageworks.packing import Unpacker, pack

HEADER = struct.Struct(">I")
T = TypeVar("T")
PROGRESS_EVERY_S = 0.2
"""Progress frames from one item at most this often (the last one of a step always goes)."""
NICENESS = 10
"""Pool processes yield the CPU to the daemon's loop and the model's workers: a request is answered, and a batch
decoded, while hashing goes on with what is left."""
PLANS_KEPT = 8
"""Plans cached per child (one per job it has run items of lately)."""


class RunItem(msgspec.Struct, tag="run", tag_field="op", kw_only=True):
    job_id: str
    run: str
    """This run of the job (a resumed job is another run: a cancel of the last one must not stop it)."""
    kind: str
    params: dict[str, Any]
    """The job's params as journaled: the child ``prepare``s its own plan from them (once per job)."""
    index: int
    item: dict[str, Any]


class CancelJob(msgspec.Struct, tag="cancel", tag_field="op", kw_only=True):
    run: str


class ItemProgress(msgspec.Struct, tag="progress", tag_field="op", kw_only=True):
    index: int
    done: int
    total: int
    message: str


class ItemDone(msgspec.Struct, tag="done", tag_field="op", kw_only=True):
    index: int
    record: bytes
    """The kind's record, msgpack (``decode_record`` with the kind's record type)."""


class ItemRaised(msgspec.Struct, tag="raised", tag_field="op", kw_only=True):
    index: int
    error: str
    cancelled: bool = False


ToWorker = RunItem | CancelJob
FromWorker = ItemProgress | ItemDone | ItemRaised


encode = pack
"""A frame's body or a record as msgpack (a non-UTF-8 file name as its bytes: ``imageworks.packing``)."""
to_worker = Unpacker[RunItem | CancelJob](ToWorker)
from_worker = Unpacker[ItemProgress | ItemDone | ItemRaised](FromWorker)


def decode_record(data: bytes, record_type: type[T]) -> T:
    """A kind's record from an ``ItemDone``."""
    return Unpacker[T](record_type).decode(data)


def frame(message: Any) -> bytes:
    body = encode(message)
    return HEADER.pack(len(body)) + body


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's body from a blocking stream, None at EOF."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


# ---- the child ----------------------------------------------------------------------------------------------------


class _Child:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.write_lock = threading.Lock()
        self.cancelled: set[str] = set()
        self.plans: OrderedDict[str, Any] = OrderedDict()

    def send(self, message: FromWorker) -> None:
        with self.write_lock:
            self.out.write(frame(message))
            self.out.flush()

    def read(self, inbox: queue.Queue[RunItem | None]) -> None:
        """The reader thread: cancels apply at once, items queue for the main thread; None at EOF."""
        stdin = sys.stdin.buffer
        while (body := read_frame(stdin)) is not None:
            message = to_worker.decode(body)
            if isinstance(message, CancelJob):
                self.cancelled.add(message.run)
            else:
                inbox.put(message)
        inbox.put(None)

    def plan(self, kind: Any, run: RunItem) -> Any:
        if run.job_id not in self.plans:
            self.plans[run.job_id] = kind.prepare(run.params)
            while len(self.plans) > PLANS_KEPT:
                self.plans.popitem(last=False)
        return self.plans[run.job_id]

    def run(self, run: RunItem) -> None:
        from imageworks.jobs import kinds
        from imageworks.jobs.cpu import ItemCancelled

        last = [0.0]

        def progress(done: int, total: int, message: str) -> None:
            if run.run in self.cancelled:
                raise ItemCancelled(f"job {run.job_id} cancelled")
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S or (total and done >= total):
                last[0] = now
                self.send(ItemProgress(index=run.index, done=done, total=total, message=message))

        try:
            if run.run in self.cancelled:
                raise ItemCancelled(f"job {run.job_id} cancelled")
            kind = kinds.cpu_kind(run.kind)
            record = kind.run_item(run.item, self.plan(kind, run), progress)
        except ItemCancelled as exc:
            self.send(ItemRaised(index=run.index, error=str(exc), cancelled=True))
        except Exception as exc:  # the item fails, with its reason; the worker serves on
            reason = str(exc).splitlines()[0] if str(exc) else ""
            self.send(ItemRaised(index=run.index, error=f"{type(exc).__name__}: {reason}".rstrip(": ")))
        else:
            self.send(ItemDone(index=run.index, record=encode(record)))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the daemon's terminal is the daemon's to handle
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must never land in the frames
    child = _Child(out)
    inbox: queue.Queue[RunItem | None] = queue.Queue()
    threading.Thread(target=child.read, args=(inbox,), name="cpu-worker-inbox", daemon=True).start()
    while (run := inbox.get()) is not None:
        child.run(run)


if __name__ == "__main__":
    main()
