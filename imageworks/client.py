"""Client library: sync (``Client``) and async (``AsyncClient``) access to the daemon, plus ``ensure_daemon``.

- Requests go over a DEALER socket; a reply is matched by ``parent_id``. A request that gets no reply in time is
  retried on a fresh socket (Lazy Pirate), re-reading the connection file in case the daemon restarted; after
  the retries a ``DaemonError`` says the daemon is not answering. Nothing waits forever.
- ``follow(job_id)`` is the Clone pattern: subscribe to the job's events first, then pull the journal's results
  page by page, then apply live events, de-duplicating by ``seq``; a periodic re-pull fills any event the PUB
  socket dropped. A client restarted mid-job therefore gets every result exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from imageworks import paths
from imageworks import protocol as P
from imageworks.errors import DaemonError, ProtocolError

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 2


def read_connection() -> dict[str, Any] | None:
    """The running daemon's connection file, or None if there is none (or it is unreadable); UnsafePathError if
    another user could have written it (we never send signed requests to whoever planted it)."""
    try:
        data = paths.read_private(paths.connection_file())
        return None if data is None else json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, NotADirectoryError):
        return None


def _check_reply(body: Any) -> Any:
    if isinstance(body, P.Error):
        raise DaemonError(f"{body.code}: {body.message}", code=body.code)
    return body


class _Base:
    ctx: zmq.Context
    sock: Any = None
    """The DEALER socket to the daemon (a ``zmq.asyncio.Socket`` in AsyncClient), made on first use."""

    def __init__(self, name: str, timeout: float | None, retries: int) -> None:
        self.name = name
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
        self.retries = retries
        self.session = f"{name}-{os.getpid()}-{P.new_id()[:8]}"
        self.info: dict[str, Any] | None = None
        self.signer: P.Signer | None = None

    def _load_info(self) -> dict[str, Any]:
        info = read_connection()
        if info is None:
            raise DaemonError(
                f"no daemon is running (no {paths.connection_file()}); start one with `imageworks daemon start`",
                code="not_running",
            )
        self.info = info
        self.signer = P.Signer(info["key"].encode())
        return info

    def _connect(self) -> Any:
        info = self._load_info()
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        self._secure(sock)
        sock.connect(info["requests"])
        self.sock = sock
        return sock

    def _subscribe(self, job_id: str) -> Any:
        """A SUB socket on the daemon's events, for one job's topic."""
        if self.sock is None:
            self._connect()
        assert self.info is not None
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        self._secure(sub)
        sub.connect(self.info["events"])
        sub.setsockopt(zmq.SUBSCRIBE, P.job_topic(job_id))
        return sub

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None

    def _request_frames(self, type_: str, body: msgspec.Struct) -> tuple[P.Header, list[bytes]]:
        assert self.signer is not None
        header = P.make_header(type_, self.session)
        return header, P.encode(self.signer, header, body)

    def _secure(self, sock: zmq.Socket) -> None:
        """TCP endpoints are CURVE-encrypted: an ephemeral client keypair against the daemon's public key."""
        assert self.info is not None
        server_key = self.info.get("curve_server_key")
        if server_key:
            public, secret = zmq.curve_keypair()
            sock.curve_serverkey = server_key.encode()
            sock.curve_publickey = public
            sock.curve_secretkey = secret

    def _decode_reply(self, frames: list[bytes]) -> P.Message:
        assert self.signer is not None
        return P.decode(self.signer, frames, allowed=P.REPLY_TYPES)

    def _decode_event(self, frames: list[bytes]) -> P.Message | None:
        assert self.signer is not None
        if len(frames) != 4:
            return None
        try:
            return P.decode(self.signer, frames[1:], allowed=P.EVENT_TYPES)
        except ProtocolError:
            return None

    def _not_answering(self, type_: str) -> DaemonError:
        where = self.info["requests"] if self.info else paths.connection_file()
        return DaemonError(
            f"the daemon at {where} did not answer {type_!r} after {self.retries + 1} tries "
            f"({self.timeout:g} s each); is it running? (`imageworks daemon status`)",
            code="timeout",
        )


def _submit_body(
    kind: str,
    items: list[dict[str, Any]],
    params: dict[str, Any] | None,
    model: str,
    batch_size: int,
    idempotency_key: str,
) -> P.JobSubmit:
    return P.JobSubmit(
        kind=kind,
        items=items,
        params=params or {},
        model=model,
        batch_size=batch_size,
        idempotency_key=idempotency_key or P.new_id(),  # makes Lazy Pirate's resend safe
    )


class _Follow:
    """Book-keeping for the Clone pattern: which seqs were delivered, up to where the journal was pulled."""

    def __init__(self, after_seq: int) -> None:
        self.pulled = after_seq
        self.seen: set[int] = set()
        self.final: P.JobInfo | None = None
        self.last_state_seq = -1

    def take_result(self, result: P.ResultRecord) -> bool:
        if result.seq <= 0 or result.seq in self.seen:
            return False
        self.seen.add(result.seq)
        return True

    def take_event(self, msg: P.Message | None) -> tuple[list[P.ResultRecord | P.JobInfo], bool]:
        """A live event: (what to deliver, whether the job reached a final state). The final state itself is
        delivered after the last pull from the journal, so no result is missed behind it."""
        if msg is None:
            return [], False
        if isinstance(msg.body, P.JobItemEvent):
            return ([msg.body.result] if self.take_result(msg.body.result) else []), False
        if isinstance(msg.body, P.JobStateEvent):
            if msg.body.job.state in P.FINAL_STATES:
                return [], True
            return ([msg.body.job] if self.take_state(msg.body.job) else []), False
        return [], False

    def take_state(self, job: P.JobInfo) -> bool:
        if job.seq <= self.last_state_seq:
            return False
        self.last_state_seq = job.seq
        if job.state in P.FINAL_STATES:
            self.final = job
        return True


class Client(_Base):
    """Blocking client. Not thread-safe: give each thread its own (they are cheap)."""

    def __init__(self, name: str = "client", *, timeout: float | None = None, retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(name, timeout, retries)
        self.ctx = zmq.Context.instance()
        self.sock: zmq.Socket | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, type_: str, body: msgspec.Struct, *, timeout: float | None = None) -> Any:
        """Send one request and return the reply body; an ``Error`` reply raises DaemonError(code)."""
        timeout = self.timeout if timeout is None else timeout
        for _attempt in range(self.retries + 1):
            sock = self.sock or self._connect()
            header, frames = self._request_frames(type_, body)
            sock.send_multipart(frames)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    break
                try:
                    msg = self._decode_reply(sock.recv_multipart())
                except ProtocolError:
                    continue  # a stray or corrupted frame: keep waiting for ours
                if msg.header.parent_id == header.msg_id:
                    return _check_reply(msg.body)
            self.close()  # Lazy Pirate: a fresh socket, and re-read the connection file
        raise self._not_answering(type_)

    # ---- typed helpers ---------------------------------------------------------------------------------------

    def hello(self) -> P.HelloReply:
        return self.call("hello", P.Hello(client=self.name))

    def ping(self, timeout: float | None = None) -> P.Pong:
        return self.call("ping", P.Ping(), timeout=timeout)

    def status(self) -> P.StatusReply:
        return self.call("status", P.StatusRequest())

    def load_model(self, name: str = "", *, wait: bool = False, timeout: float = 600) -> P.ModelState:
        state = self.call("model.load", P.ModelLoad(name=name))
        return self.wait_model(timeout) if wait else state

    def switch_model(self, name: str, *, wait: bool = False, timeout: float = 600) -> P.ModelState:
        state = self.call("model.switch", P.ModelSwitch(name=name), timeout=max(self.timeout, 15))
        return self.wait_model(timeout) if wait else state

    def unload_model(self) -> P.ModelState:
        return self.call("model.unload", P.ModelUnload(), timeout=max(self.timeout, 15))

    def wait_model(self, timeout: float = 600) -> P.ModelState:
        """Poll until the model is loaded (or failed: raises DaemonError with the load error)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.status().model
            if state.state == "loaded":
                return state
            if state.state in ("failed", "crashed", "none"):
                raise DaemonError(state.error or f"model is {state.state}", code="model_error")
            if time.monotonic() > deadline:
                raise DaemonError(f"model {state.name!r} still {state.state} after {timeout:g} s", code="timeout")
            time.sleep(0.1)

    def submit(
        self,
        kind: str,
        items: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        model: str = "",
        batch_size: int = 0,
        idempotency_key: str = "",
    ) -> P.JobSubmitted:
        return self.call("job.submit", _submit_body(kind, items, params, model, batch_size, idempotency_key))

    def resume(self, job_id: str) -> P.JobSubmitted:
        return self.call("job.submit", P.JobSubmit(kind="", resume=job_id))

    def attach(self, job_id: str) -> P.JobSnapshot:
        return self.call("job.attach", P.JobAttach(job_id=job_id))

    def results(self, job_id: str, after_seq: int = 0, limit: int = 500) -> P.JobResultsPage:
        return self.call("job.results", P.JobResults(job_id=job_id, after_seq=after_seq, limit=limit))

    def all_results(self, job_id: str) -> list[P.ResultRecord]:
        out: list[P.ResultRecord] = []
        after = 0
        while True:
            page = self.results(job_id, after, 5000)
            out.extend(page.results)
            after = page.last_seq
            if not page.more:
                return out

    def cancel(self, job_id: str) -> P.JobInfo:
        return self.call("job.cancel", P.JobCancel(job_id=job_id))

    def jobs(self, limit: int = 50) -> list[P.JobInfo]:
        return self.call("job.list", P.JobList(limit=limit)).jobs

    def shutdown(self) -> None:
        self.call("shutdown", P.Shutdown())

    def follow(self, job_id: str, *, after_seq: int = 0, resync_s: float = 1.0) -> Iterator[P.ResultRecord | P.JobInfo]:
        """Yield every result after ``after_seq`` exactly once, and job state changes, until the job ends."""
        sub = self._subscribe(job_id)
        state = _Follow(after_seq)
        try:
            while True:
                yield from self._pull(job_id, state)
                if state.final is not None:
                    return
                deadline = time.monotonic() + resync_s
                while (left := deadline - time.monotonic()) > 0 and sub.poll(int(left * 1000) + 1):
                    new, final = state.take_event(self._decode_event(sub.recv_multipart()))
                    yield from new
                    if final:
                        break  # pull the rest from the journal, then stop
        finally:
            sub.close(0)

    def _pull(self, job_id: str, state: _Follow) -> Iterator[P.ResultRecord | P.JobInfo]:
        snap = self.attach(job_id)
        while True:
            page = self.results(job_id, state.pulled, 1000)
            for result in page.results:
                if state.take_result(result):
                    yield result
            state.pulled = page.last_seq
            if not page.more:
                break
        if state.take_state(snap.job):
            yield snap.job


class AsyncClient(_Base):
    """asyncio client for event-loop programs (one per task; not shared between tasks sending at once)."""

    def __init__(self, name: str = "client", *, timeout: float | None = None, retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(name, timeout, retries)
        self.ctx = zmq.asyncio.Context.instance()
        self.sock: zmq.asyncio.Socket | None = None

    async def call(self, type_: str, body: msgspec.Struct, *, timeout: float | None = None) -> Any:
        timeout = self.timeout if timeout is None else timeout
        for _attempt in range(self.retries + 1):
            sock = self.sock or self._connect()
            header, frames = self._request_frames(type_, body)
            await sock.send_multipart(frames)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                if not await sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                    break
                try:
                    msg = self._decode_reply(await sock.recv_multipart())
                except ProtocolError:
                    continue
                if msg.header.parent_id == header.msg_id:
                    return _check_reply(msg.body)
            self.close()
        raise self._not_answering(type_)

    async def ping(self, timeout: float | None = None) -> P.Pong:
        return await self.call("ping", P.Ping(), timeout=timeout)

    async def status(self) -> P.StatusReply:
        return await self.call("status", P.StatusRequest())

    async def attach(self, job_id: str) -> P.JobSnapshot:
        return await self.call("job.attach", P.JobAttach(job_id=job_id))

    async def results(self, job_id: str, after_seq: int = 0, limit: int = 500) -> P.JobResultsPage:
        return await self.call("job.results", P.JobResults(job_id=job_id, after_seq=after_seq, limit=limit))

    async def cancel(self, job_id: str) -> P.JobInfo:
        return await self.call("job.cancel", P.JobCancel(job_id=job_id))

    async def submit(
        self,
        kind: str,
        items: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        *,
        model: str = "",
        batch_size: int = 0,
        idempotency_key: str = "",
    ) -> P.JobSubmitted:
        body = _submit_body(kind, items, params, model, batch_size, idempotency_key)
        return await self.call("job.submit", body)

    async def follow(
        self, job_id: str, *, after_seq: int = 0, resync_s: float = 1.0
    ) -> AsyncIterator[P.ResultRecord | P.JobInfo]:
        sub = self._subscribe(job_id)
        state = _Follow(after_seq)
        try:
            while True:
                snap = await self.attach(job_id)
                while True:
                    page = await self.results(job_id, state.pulled, 1000)
                    for result in page.results:
                        if state.take_result(result):
                            yield result
                    state.pulled = page.last_seq
                    if not page.more:
                        break
                if state.take_state(snap.job):
                    yield snap.job
                if state.final is not None:
                    return
                deadline = time.monotonic() + resync_s
                while (left := deadline - time.monotonic()) > 0 and await sub.poll(int(left * 1000) + 1):
                    new, final = state.take_event(self._decode_event(await sub.recv_multipart()))
                    for event in new:
                        yield event
                    if final:
                        break
        finally:
            sub.close(0)


def daemon_alive(timeout: float = 1.0) -> P.Pong | None:
    """Ping the daemon named by the connection file once; None if none answers."""
    if read_connection() is None:
        return None
    client = Client("probe", timeout=timeout, retries=0)
    try:
        return client.ping()
    except DaemonError:
        return None
    finally:
        client.close()


def spawn_daemon(model: str | None = None) -> subprocess.Popen[bytes]:
    """Start a detached daemon (own session: it outlives this process and its terminal)."""
    cmd = [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"]
    if model is not None:
        cmd += ["--model", model]
    log = (paths.log_dir() / "daemon-stdout.log").open("ab")
    try:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )
    finally:
        log.close()


def ensure_daemon(*, model: str | None = None, timeout: float = 30.0) -> P.Pong:
    """Return the running daemon's pong, starting one if none answers; DaemonError if it cannot start."""
    pong = daemon_alive()
    if pong is not None:
        return pong
    proc = spawn_daemon(model)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pong = daemon_alive(timeout=0.5)
        if pong is not None:
            return pong
        code = proc.poll()
        if code is not None:
            pong = daemon_alive(timeout=0.5)  # lost a start race to another client's daemon: fine
            if pong is not None:
                return pong
            raise DaemonError(
                f"the daemon exited at start (code {code}); see {paths.log_dir() / 'daemon-stdout.log'}",
                code="start_failed",
            )
        time.sleep(0.05)
    raise DaemonError(f"the daemon did not answer within {timeout:g} s of starting", code="timeout")
