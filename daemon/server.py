"""The daemon's sockets and event loop: a ROUTER for requests, a PUB for events, dispatch to handlers.

Start-up: take the lock file (a second daemon refuses with the first one's pid), clean sockets a killed daemon
left, open the journal and mark the previous boot's unfinished jobs ``interrupted``, bind ``ipc://`` sockets in
the 0700 runtime dir, then write the 0600 connection file (endpoints + HMAC key) that clients read. No model
code lives here: models.py owns the worker, runner.py the jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import time
from logging.handlers import RotatingFileHandler
from typing import TYPE_CHECKING, Any, cast

import msgspec
import zmq

from imageworks import __version__, paths, runtime_record
from imageworks import protocol as P
from imageworks.config import Config
from imageworks.errors import DaemonError, ImageWorksError, ProtocolError
from imageworks.metadata.backup import backups_total_bytes
from imageworks.protocol.frames import recv_frames, send_frames
from imageworks.review.store import DraftStore

from .events import EventPublisher
from .handlers import REQUEST_SESSION, Handler
from .handlers.images import ImageHandlers
from .handlers.jobs import JobHandlers
from .handlers.library import LibraryHandlers
from .handlers.review import ReviewHandlers
from .handlers.session import ClientTable, SessionHandlers
from .handlers.slots import ModelHandlers
from .intents import reconcile
from .journal import Journal
from .lanes import JobLanes
from .lockfile import DaemonLock
from .logs import RateLimitedLog
from .progress import ProgressEvents
from .review import ReviewDesk
from .review_files import library_keywords, read_library_of
from .runtime_guard import RuntimeGuard
from .slots import ModelManager
from .sockets import bind_tcp, socket_pair
from .watch import LibraryWatches

if TYPE_CHECKING:
    from .openai.endpoint import OpenAIEndpoint

log = logging.getLogger("imageworks.daemon")

_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)  # plain ints: pyzmq's enum members cost ~1 µs a use in _drain
BACKUPS_EVERY_S = 10.0
DROPPED_LOG_EVERY_S = 10.0
"""A flood of bad frames is logged once per this many seconds, with the count dropped meanwhile."""
LOG_BYTES = 5_000_000
LOG_BACKUPS = 2
"""daemon.log rotates at LOG_BYTES, keeping LOG_BACKUPS old files."""


class Daemon:
    def __init__(self, config: Config, *, preload: str | None = None) -> None:
        self.config = config
        self.preload = preload
        self.boot_id = P.new_id()
        self.key = P.new_key()
        self.signer = P.Signer(self.key)
        self.replay = P.ReplayGuard()
        self.started = time.time()
        self.session = "daemon-" + self.boot_id[:8]
        self.events = EventPublisher(self.signer, self.session, self.boot_id)
        self.runtime = paths.runtime_dir()
        self.request_path = self.runtime / "requests.sock"
        self.events_path = self.runtime / "events.sock"
        self.tcp_file = self.runtime / "connection-tcp.json"
        self.lock = DaemonLock(paths.lock_file())
        self.clients = ClientTable(config.daemon.client_expiry_s)
        self.counters = P.Counters()
        self._stop = asyncio.Event()
        self.ctx: zmq.Context | None = None
        self.openai: OpenAIEndpoint | None = None
        self._backups_measured = (0.0, 0)
        self._dropped = RateLimitedLog(log, DROPPED_LOG_EVERY_S)

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _prepare(self) -> list[P.ResultRecord]:
        """Lock, journal, drafts; returns the results of the writes a killed daemon left that reached their files."""
        self.lock.acquire()
        for stale in (self.request_path, self.events_path, paths.connection_file(), self.tcp_file):
            stale.unlink(missing_ok=True)  # left by a daemon that was killed: we hold the lock, so nobody uses them
        try:
            self.journal = Journal(paths.journal_db())
        except Exception as exc:
            self.lock.release()
            raise DaemonError(f"cannot open the job journal {paths.journal_db()}: {exc}") from exc
        try:
            drafts = DraftStore(autocheckpoint=False)  # the review desk checkpoints off the loop
        except Exception as exc:
            self.journal.close()
            self.lock.release()
            raise DaemonError(f"cannot open the review drafts: {exc}") from exc
        self.review = ReviewDesk(drafts, self.events.review, library_keywords, read_library_of)
        if interrupted := self.journal.mark_interrupted(self.boot_id):
            log.info("marked %d job(s) of a previous daemon as interrupted", len(interrupted))
        return reconcile(self.journal, remove_temps=True)  # metadata writes a killed daemon left half-journaled

    async def serve(self) -> None:
        recovered = self._prepare()
        loop = asyncio.get_running_loop()
        self.ctx = zmq.Context()
        self.router, self.pub = socket_pair(self.ctx, self.config.daemon.max_message_bytes)
        self.routers = [self.router]
        self.pubs = self.events.pubs
        self.pubs.append(self.pub)
        old_umask = os.umask(0o077)  # sockets created 0600
        try:
            self.router.bind(f"ipc://{self.request_path}")
            self.pub.bind(f"ipc://{self.events_path}")
        finally:
            os.umask(old_umask)
        if self.config.daemon.tcp_endpoint:
            self._bind_tcp(self.config.daemon.tcp_endpoint)
        self.models = ModelManager(self.config.model, self.events.model, self.config.cluster)
        self.lanes = JobLanes.build(
            self.journal,
            self.models,
            self.config,
            self.counters,
            on_result=self._on_result,
            on_state=self.events.state,
            on_progress=self.events.progress,
            recall=self.review.recall,
        )
        self.runner = self.lanes.model
        self.watches = LibraryWatches(self.config.scan, self.events.library, loop)  # each library scanned is watched
        self.library = LibraryHandlers(self.journal, self.watches)  # (it stops them when it closes)
        self.progress = ProgressEvents(
            lambda job_id: self.runner.with_speed(self.journal.job(job_id)), self.events.counts
        )
        self.session_handlers = SessionHandlers(self.clients, self.boot_id, self.status, self._stop_soon)
        job_handlers = JobHandlers(
            self.journal,
            self.lanes,
            self.models,
            self.config.daemon,
            boot_id=self.boot_id,
            counters=self.counters,
            publish_state=self.events.state,
            settle=self.watches.settle,
        )
        self.review.start(loop)
        for result in recovered:  # a recovered commit marks its draft committed, with its backup link
            self._on_result(result)
        self.handlers: dict[str, Handler] = {
            **self.session_handlers.table(),
            **ModelHandlers(self.models, self.counters).table(),
            **job_handlers.table(),
            **ReviewHandlers(self.review, job_handlers.on_job_submit, self.clients.describe).table(),
            **self.library.table(),
            **ImageHandlers(self.counters, self.config.model.max_image_pixels).table(),
        }
        assert self.handlers.keys() == P.REQUEST_TYPES.keys(), "every request type has exactly one handler"
        self._slow = {name for name, handler in self.handlers.items() if asyncio.iscoroutinefunction(handler)}
        self.openai = await self._start_openai() if self.config.openai.listen else None
        self._write_connection_files()
        binds = [(self.router, self.request_path), (self.pub, self.events_path)]
        files = [paths.connection_file(), *([self.tcp_file] if len(self.routers) > 1 else [])]
        self.guard = RuntimeGuard(self.lock, binds, files, self._write_connection_files, self._superseded)
        runtime_record.write_record(self.runtime, self.boot_id)  # (for a client that finds the files gone)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(runtime_record.WAKE_SIGNAL, self.guard.check)  # a client found the files gone
        if self.preload is not None:
            self.models.start_load(self.preload)
        runner_task = loop.create_task(self.runner.run_forever())
        guard_task = loop.create_task(self.guard.run(self.config.daemon.runtime_check_s))
        for router in self.routers:
            loop.add_reader(router.fileno(), self._drain, router)
            loop.call_soon(self._drain, router)  # messages that arrived before the reader was registered
        log.info("daemon %s serving on %s (pid %d)", self.boot_id, self.request_path, os.getpid())
        # what start-up made (modules, handlers, stores) lives as long as the daemon: out of the cycle collector's
        # reach, its full collections scan only what came since (~2 ms, was ~20 ms: every request in flight then
        # waited for it; bench/daemon_latency.py)
        gc.freeze()
        try:
            await self._stop.wait()
        finally:
            for router in self.routers:
                loop.remove_reader(router.fileno())
            await self._shutdown(runner_task, guard_task)

    def _write_connection_files(self) -> None:
        paths.write_private(paths.connection_file(), json.dumps(self.connection_info(), indent=2))
        if len(self.routers) > 1:
            paths.write_private(self.tcp_file, json.dumps(self.tcp_info, indent=2))

    def _superseded(self, why: str) -> None:
        log.warning("stopping: this daemon's runtime files were removed and %s", why)
        self._stop.set()

    def _bind_tcp(self, endpoint: str) -> None:
        """Optional TCP listener, always encrypted with CURVE; its connection info goes to connection-tcp.json."""
        assert self.ctx is not None
        router, pub, fields = bind_tcp(self.ctx, self.config.daemon.max_message_bytes, endpoint)
        self.routers.append(router)
        self.pubs.append(pub)
        self.tcp_info = {**self.connection_info(), **fields}

    async def _start_openai(self) -> OpenAIEndpoint:
        from .openai.endpoint import OpenAIEndpoint  # aiohttp is imported only when the endpoint is on

        endpoint = OpenAIEndpoint(self.config.openai, self.models, self.config.model)
        await endpoint.start()
        return endpoint

    async def _shutdown(self, *tasks: asyncio.Task[Any]) -> None:
        await self.lanes.stop()
        if self.openai is not None:
            await self.openai.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.models.shutdown(), 1.5)
        self.models.kill_now()
        if self.guard.owns():  # (not those of a daemon started after ours were removed)
            for done in (paths.connection_file(), self.tcp_file, self.request_path, self.events_path):
                done.unlink(missing_ok=True)
        runtime_record.remove_record(self.boot_id)
        for sock in (*self.routers, *self.pubs):
            sock.close(0)
        if self.ctx is not None:
            self.ctx.term()
        self.review.close()
        self.library.close()
        self.journal.close()
        self.lock.release()

    def connection_info(self) -> dict[str, Any]:
        return {
            "version": P.PROTOCOL_VERSION,
            "daemon_version": __version__,
            "boot_id": self.boot_id,
            "pid": os.getpid(),
            "requests": f"ipc://{self.request_path}",
            "events": f"ipc://{self.events_path}",
            "key": self.key.decode(),
            "signature_scheme": "hmac-sha256",
        }

    # ---- events ----------------------------------------------------------------------------------------------

    def _on_result(self, result: P.ResultRecord) -> None:
        self.events.item(result)
        self.review.on_result(result)  # a tag result becomes a draft; a commit result lands on its draft
        self.progress.item_done(result.job_id)
        self.watches.on_result(result)  # a scan's record: watch its root

    # ---- requests --------------------------------------------------------------------------------------------

    def _drain(self, router: zmq.Socket) -> None:
        """Read every queued request. Plain sockets on the loop's reader (no pyzmq asyncio futures per message: that
        layer cost ~100 us of CPU per request). ZeroMQ's FD is edge-triggered, so drain until EVENTS says empty."""
        while cast(int, router.getsockopt(_EVENTS)) & _POLLIN:  # EVENTS is an int option
            try:
                frames = recv_frames(router)
            except zmq.Again:
                break
            if len(frames) < 2:
                self.counters.rejected_frames += 1
                continue
            self._handle_frames(router, frames[0], frames[1:])

    def _handle_frames(self, router: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        if len(frames) != 3 or not self.signer.verify(*frames):
            # unsigned or wrongly signed: no reply (we cannot know the sender holds the key)
            self.counters.rejected_frames += 1
            self._dropped.warning("dropped %d-frame message with a bad or missing signature", len(frames))
            return
        try:
            msg = P.decode(self.signer, frames, allowed=P.REQUEST_TYPES, verified=True)
        except ProtocolError as exc:
            self.counters.rejected_frames += 1
            header = P.peek_header(frames)  # only to address the error reply: a good request decodes it once
            if header is None:
                return
            code = "bad_request"
            if header.version != P.PROTOCOL_VERSION:
                code = "version_mismatch"
            elif header.type not in P.REQUEST_TYPES:
                code = "unknown_type"
            self._reply(router, identity, header, P.Error(code=code, message=str(exc)))
            return
        header = msg.header
        refusal = self.replay.check(header)
        if refusal:
            self.counters.rejected_frames += 1
            self._reply(router, identity, header, P.Error(code="replayed", message=refusal))
            return
        self.counters.requests += 1
        self.clients.seen(header.session)
        REQUEST_SESSION.set(header.session)  # the one record of whose request this is (a slow handler's task copies it)
        handler = self.handlers[header.type]
        if header.type in self._slow:  # slow handlers await: their own task, others are not held up
            asyncio.get_running_loop().create_task(self._run_slow(router, identity, header, handler, msg.body))
        else:
            self._reply(router, identity, header, self._guarded(handler, msg.body))

    def _guarded(self, handler: Any, body: Any) -> msgspec.Struct:
        try:
            return handler(body)
        except Exception as exc:
            return self._error_reply(exc, body)

    async def _run_slow(self, router: zmq.Socket, identity: bytes, header: P.Header, handler: Any, body: Any) -> None:
        try:
            reply = await handler(body)
        except Exception as exc:
            reply = self._error_reply(exc, body)
        self._reply(router, identity, header, reply)
        self._drain(router)  # sending can consume the FD's edge: look for requests that came meanwhile

    def _stop_soon(self) -> None:
        asyncio.get_running_loop().call_later(0.05, self._stop.set)

    def _error_reply(self, exc: Exception, body: Any) -> P.Error:
        if isinstance(exc, ImageWorksError):  # a refusal or a failure a person can act on: its code says which
            return P.Error(code=exc.code, message=str(exc))
        log.error("handler for %s failed", type(body).__name__, exc_info=exc)
        return P.Error(code="internal", message=f"{type(exc).__name__}: {exc}")

    def _reply(self, router: zmq.Socket, identity: bytes, request: P.Header, body: msgspec.Struct) -> None:
        reply_header = P.make_header(
            P.TYPE_OF[type(body)], self.session, parent_id=request.msg_id, boot_id=self.boot_id
        )
        frames = P.encode(self.signer, reply_header, body)
        with contextlib.suppress(zmq.ZMQError):  # a vanished or saturated peer: ROUTER drops, as it would anyway
            send_frames(router, [identity, *frames])

    def status(self) -> P.StatusReply:
        now = time.time()
        self.counters.model_loads = self.models.loads
        self.counters.inferences = self.models.inferences
        self.counters.clients = self.clients.registered
        batching = self.models.batching.stats
        self.counters.batches = batching.batches
        self.counters.largest_batch = batching.largest_batch
        self.counters.shared_batches = batching.shared_batches
        return P.StatusReply(
            boot_id=self.boot_id,
            pid=os.getpid(),
            version=__version__,
            uptime=now - self.started,
            model=self.models.state,
            counters=self.counters,
            clients=self.clients.live(),
            endpoints={"requests": f"ipc://{self.request_path}", "events": f"ipc://{self.events_path}"},
            slots=self.models.views(),
            openai=self.openai.status() if self.openai is not None else None,
            backups_bytes=self._backups_bytes(now),
            watches=self.watches.views(),
            **self.lanes.status_fields(),
        )

    def _backups_bytes(self, now: float) -> int:
        """Walking the backups takes a while when there are many: measured at most every BACKUPS_EVERY_S."""
        if now - self._backups_measured[0] > BACKUPS_EVERY_S:
            self._backups_measured = (now, backups_total_bytes())
        return self._backups_measured[1]


def run(config: Config, *, preload: str | None = None) -> None:
    """Run a daemon in this process until shutdown or a signal. Raises DaemonError if one already runs."""
    # one log file, rotated; a terminal (daemon start --foreground by hand) also gets it, a spawned daemon's
    # stdout (daemon-stdout.log, for a crash at start) does not, or every line would be written twice
    handlers: list[logging.Handler] = [
        RotatingFileHandler(paths.log_dir() / "daemon.log", maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
    ]
    if sys.stderr.isatty():
        handlers.append(logging.StreamHandler())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers)
    # background threads (job inserts, metadata writes) hold the GIL in 5 ms slices by default: a request would
    # wait up to that long; 1 ms bounds it at a small cost in switching
    sys.setswitchinterval(0.001)
    daemon = Daemon(config, preload=preload)
    asyncio.run(daemon.serve())
