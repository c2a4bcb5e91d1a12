"""One client, many requests in flight on one connection, against a real daemon: replies reach their callers, a lost
reply costs only its own request a retry, a daemon killed or replaced mid-flight is handled per request, and the
blocking views (``Client``, the TUI's view for thread workers) are the async client's own methods."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import zmq

from imageworks import paths
from imageworks import protocol as P
from imageworks.client import AsyncClient, BlockingClient, Client
from imageworks.errors import DaemonError
from imageworks.jobs.records import EchoRecord
from tests.waiting import wait_for

IN_FLIGHT = 64


def _socket_fds() -> int:
    """Sockets this process holds open (each connection a ZeroMQ socket makes over ipc is one)."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count


def _ours(clients: list[P.ClientInfo]) -> list[P.ClientInfo]:
    return [c for c in clients if c.pid == os.getpid()]


def _finished_job(n: int) -> tuple[str, list[P.ResultRecord]]:
    with Client("setup", register=False) as c:
        job = c.submit("echo", [{"text": f"item {i}"} for i in range(n)], batch_size=8).job
        assert [u for u in c.follow(job.job_id) if isinstance(u, P.JobInfo)][-1].state == "done"
        return job.job_id, c.all_results(job.job_id)


def test_many_tasks_share_one_client_and_each_gets_its_own_reply(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    job_id, records = _finished_job(IN_FLIGHT)
    assert len(records) == IN_FLIGHT

    async def run() -> tuple[list[P.JobResultsPage], int, int, int, list[P.ClientInfo]]:
        c = AsyncClient("many")
        try:
            await c.ping()
            sockets_with_one = _socket_fds()
            # each task asks for a different record: a reply handed to the wrong caller shows as a wrong record
            tasks = [asyncio.create_task(c.results(job_id, after_seq=r.seq - 1, limit=1)) for r in records]
            await asyncio.sleep(0)  # ok-sleep: one turn of the loop, no time: every task has sent
            in_flight = c.in_flight
            sockets_with_many = _socket_fds()
            pages = await asyncio.gather(*tasks)
            return pages, in_flight, sockets_with_one, sockets_with_many, (await c.status()).clients
        finally:
            c.close()

    pages, in_flight, sockets_with_one, sockets_with_many, clients = asyncio.run(run())
    assert in_flight == IN_FLIGHT
    assert sockets_with_many == sockets_with_one  # one connection carries them all
    for asked, page in zip(records, pages, strict=True):
        (record,) = page.results
        assert isinstance(record.record, EchoRecord), record.record
        assert record.seq == asked.seq and record.record.output == f"echo: item {asked.index}"
    (ours,) = _ours(clients)  # one session, named once
    assert ours.name == "many" and ours.requests >= IN_FLIGHT + 2


class DroppingProxy:
    """A relay between one client and the daemon's request socket that drops the first reply of ``drop`` (a real
    loss on the way: the daemon answered, the client never hears it)."""

    def __init__(self, daemon_endpoint: str, front: Path, drop: str) -> None:
        self.front_path = front
        self.endpoint = f"ipc://{front}"
        self.drop = drop
        self.dropped = 0
        self.requests: list[str] = []
        self.ctx = zmq.Context()
        self.front = self.ctx.socket(zmq.ROUTER)
        self.front.bind(self.endpoint)
        self.back = self.ctx.socket(zmq.DEALER)
        self.back.connect(daemon_endpoint)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self) -> None:
        poller = zmq.Poller()
        poller.register(self.front, zmq.POLLIN)
        poller.register(self.back, zmq.POLLIN)
        peer = b""
        while not self._stop.is_set():
            for sock, _ in poller.poll(50):
                if sock is self.front:
                    peer, *frames = self.front.recv_multipart()
                    header = P.peek_header(frames)
                    self.requests.append(header.type if header else "?")
                    self.back.send_multipart(frames)
                else:
                    frames = self.back.recv_multipart()
                    header = P.peek_header(frames)
                    if header is not None and header.type == self.drop and not self.dropped:
                        self.dropped += 1
                        continue
                    self.front.send_multipart([peer, *frames])

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.front.close(0)
        self.back.close(0)
        self.ctx.term()
        self.front_path.unlink(missing_ok=True)


def _client_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: object) -> Path:
    """Point this process at a runtime dir of its own, holding the daemon's connection file with ``changes``: the
    client then reaches the daemon as that file says (through a relay, as a remote one). Returns the file."""
    daemon_file = paths.connection_file()
    runtime = tmp_path / "rt"
    (runtime / "imageworks").mkdir(parents=True, mode=0o700)
    os.chmod(runtime, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return _copy_connection(daemon_file, paths.connection_file(), **changes)


def _copy_connection(daemon_file: Path, client_file: Path, **changes: object) -> Path:
    info = json.loads(daemon_file.read_text())
    paths.write_private(client_file, json.dumps({**info, **changes}))
    return client_file


def test_a_lost_reply_is_retried_without_holding_up_the_others(start_daemon, tmp_path, monkeypatch):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    daemon_requests = json.loads(paths.connection_file().read_text())["requests"]
    proxy = DroppingProxy(daemon_requests, Path(f"/tmp/iw-relay-{os.getpid()}.sock"), drop="status.reply")
    _client_runtime(tmp_path, monkeypatch, requests=proxy.endpoint)
    timeout = 3.0

    async def run() -> tuple[float, float, float]:
        c = AsyncClient("lossy", timeout=timeout, retries=2)
        try:
            await c.ping()
            t0 = time.monotonic()
            lost = asyncio.create_task(c.status())
            latencies: list[float] = []

            async def pings() -> None:
                for _ in range(10):
                    t = time.monotonic()
                    await c.ping()
                    latencies.append(time.monotonic() - t)

            await asyncio.gather(*(pings() for _ in range(15)))
            others_done = time.monotonic() - t0
            status = await lost
            assert status.boot_id
            return others_done, time.monotonic() - t0, max(latencies)
        finally:
            c.close()

    try:
        others_done, lost_done, slowest_ping = asyncio.run(run())
    finally:
        proxy.close()
    assert proxy.dropped == 1 and proxy.requests.count("status") == 2  # the one request was sent again
    assert lost_done >= timeout  # it waited out its own timeout, then its retry was answered
    assert others_done < timeout and slowest_ping < timeout  # the 150 pings around it never waited for it


def test_requests_in_flight_follow_a_replaced_daemon(start_daemon, tmp_path, monkeypatch):
    # a daemon reached as a remote one (no pid to watch): requests in flight when it is replaced are answered by the
    # new one as soon as the client's connection file names it, well before their timeout
    first = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    daemon_file = paths.connection_file()
    client_file = _client_runtime(tmp_path, monkeypatch, remote="gpu-box")
    second: list[subprocess.Popen[bytes]] = []

    def replace_daemon() -> str:
        """Kill the frozen daemon, start another on the same runtime dir, copy its connection file to the client."""
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait(10)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(daemon_file.parent.parent), "IMAGEWORKS_MODEL_NAME": "echo"}
        second.append(
            subprocess.Popen(
                [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

        def new_boot() -> str:
            assert second[0].poll() is None, "the second daemon exited at start"
            try:
                boot = json.loads(daemon_file.read_text())["boot_id"]
            except (OSError, ValueError):
                return ""
            return boot if boot != first.boot_id else ""

        boot = wait_for(new_boot, timeout=30, what="the second daemon's connection file")
        _copy_connection(daemon_file, client_file, remote="gpu-box")
        return boot

    async def run() -> tuple[list[str], str, float, list[P.ClientInfo]]:
        c = AsyncClient("survivor", timeout=60, retries=0)
        try:
            assert (await c.ping()).boot_id == first.boot_id
            os.kill(first.pid, signal.SIGSTOP)  # frozen: what is sent now waits
            tasks = [asyncio.create_task(c.ping()) for _ in range(8)]
            await asyncio.sleep(0)  # ok-sleep: one turn of the loop (no time), so every task has sent
            assert c.in_flight == 8
            boot = await asyncio.to_thread(replace_daemon)
            t0 = time.monotonic()
            pongs = await asyncio.gather(*tasks)
            return [p.boot_id for p in pongs], boot, time.monotonic() - t0, (await c.status()).clients
        finally:
            c.close()

    try:
        boots, boot, waited, clients = asyncio.run(run())
    finally:
        for proc in second:
            proc.terminate()
            proc.wait(10)
    assert set(boots) == {boot}
    assert waited < 30  # the new connection file was noticed while waiting, not after the 60 s timeout
    assert [c.name for c in _ours(clients)] == ["survivor"]  # hello again to the new boot: listed once


def test_requests_in_flight_when_a_local_daemon_is_killed_each_say_so_at_once(start_daemon):
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    async def run() -> tuple[list[object], float]:
        c = AsyncClient("victim", timeout=60)
        try:
            await c.ping()
            os.kill(daemon.pid, signal.SIGSTOP)
            tasks = [asyncio.create_task(c.attach(f"job-{i}")) for i in range(6)] + [asyncio.create_task(c.status())]
            await asyncio.sleep(0)  # ok-sleep: one turn of the loop (no time), so every task has sent
            t0 = time.monotonic()
            os.kill(daemon.pid, signal.SIGKILL)
            errors: list[object] = list(await asyncio.gather(*tasks, return_exceptions=True))
            return errors, time.monotonic() - t0
        finally:
            c.close()

    errors, waited = asyncio.run(run())
    assert waited < 20  # named while waiting (every 0.5 s), not after the 60 s timeout
    assert all(isinstance(e, DaemonError) and e.code == "daemon_gone" for e in errors), errors
    assert "jobs resume job-3" in str(errors[3]) and "'status'" in str(errors[-1])  # each names its own request
    # the same process, a new daemon: a new client connects at once
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("after") as c:
        assert c.ping().boot_id


def test_the_blocking_client_inside_and_outside_a_running_loop_and_from_many_threads(start_daemon):
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("blocking") as c:
        assert c.ping().boot_id == daemon.boot_id  # no loop running here

        async def inside() -> str:
            return c.status().boot_id  # a loop runs in this thread: the call runs on the client's own loop

        assert asyncio.run(inside()) == daemon.boot_id

        results: dict[int, str] = {}

        def worker(i: int) -> None:
            results[i] = c.ping().boot_id

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert set(results.values()) == {daemon.boot_id} and len(results) == 8
        # a stream, read from this thread
        events = c.events(idle_timeout=30)
        c.load_model(wait=True)
        assert any(isinstance(e, P.ModelEvent) and e.model.state == "loaded" for e in events)
        events.close()
        assert [i.name for i in _ours(c.status().clients)] == ["blocking"]
        assert c.topics == []
    # the blocking client's methods are the async client's, derived: none is missing, none is extra
    public = {n for n in dir(AsyncClient) if not n.startswith("_") and callable(getattr(AsyncClient, n))}
    assert public <= set(dir(Client))
    # set on the class by setattr (client/sync.py), so read from it the same way
    assert inspect.getattr_static(Client, "review_edit").__doc__ == AsyncClient.review_edit.__doc__


def test_a_blocking_view_of_a_loops_client_from_a_thread(start_daemon):
    """What the TUI's thread workers do: the App's one AsyncClient, on the App's loop, used from another thread; the
    view's close leaves the client open (it is the App's)."""
    daemon = start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    async def run() -> tuple[str, list[str], str]:
        loop = asyncio.get_running_loop()
        c = AsyncClient("app")

        def run_on_app(fn):
            return asyncio.run_coroutine_threadsafe(_awaited(fn), loop).result()

        view = BlockingClient(lambda: c, run_on_app)

        def thread_work() -> tuple[str, list[str]]:
            pong = view.ping()
            names = [i.name for i in _ours(view.status().clients)]
            view.close()
            return pong.boot_id, names

        try:
            boot, names = await asyncio.to_thread(thread_work)
            return boot, names, (await c.ping()).boot_id  # still open
        finally:
            c.close()

    assert asyncio.run(run()) == (daemon.boot_id, ["app"], daemon.boot_id)


async def _awaited(fn):
    result = fn()
    return await result if asyncio.iscoroutine(result) else result
