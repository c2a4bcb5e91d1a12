"""The one client implementation against a real daemon: sync and async give the same answers, events() delivers
pushed job and model events, and the daemon lists one live client per process (hello, bye, expiry)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import msgspec

from imageworks import client
from imageworks import protocol as P
from imageworks.client import AsyncClient, Client
from imageworks.errors import DaemonError
from tests.waiting import wait_for


def _items(n: int) -> list[dict[str, str]]:
    return [{"text": f"item {i}"} for i in range(n)]


def _plain(value: object) -> object:
    """Builtins without the fields that differ between two equal answers asked at different times."""
    data = msgspec.to_builtins(value)
    if isinstance(data, dict):
        for volatile in ("time", "uptime", "counters", "clients", "updated"):
            data.pop(volatile, None)
    return data


def test_sync_and_async_clients_answer_alike(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    async def async_side(job_id: str) -> dict[str, object]:
        c = AsyncClient("t-async")
        try:
            return {
                "hello": (await c.hello()).boot_id,
                "ping": (await c.ping()).boot_id,
                "status": _plain((await c.status()).model),
                "attach": _plain((await c.attach(job_id)).job),
                "results": _plain(await c.results(job_id)),
                "all_results": _plain(await c.all_results(job_id)),
                "jobs": [j.job_id for j in await c.jobs()],
                "follow": [_plain(x) for x in [u async for u in c.follow(job_id)]],
                "wait_model": _plain(await c.wait_model(10)),
            }
        finally:
            c.close()

    with Client("t-sync") as c:
        assert c.load_model(wait=True).state == "loaded"
        job = c.submit("echo", _items(3)).job
        finished = [u for u in c.follow(job.job_id) if isinstance(u, P.JobInfo)][-1]
        assert finished.state == "done"
        sync_side = {
            "hello": c.hello().boot_id,
            "ping": c.ping().boot_id,
            "status": _plain(c.status().model),
            "attach": _plain(c.attach(job.job_id).job),
            "results": _plain(c.results(job.job_id)),
            "all_results": _plain(c.all_results(job.job_id)),
            "jobs": [j.job_id for j in c.jobs()],
            "follow": [_plain(x) for x in c.follow(job.job_id)],
            "wait_model": _plain(c.wait_model(10)),
        }
        assert asyncio.run(async_side(job.job_id)) == sync_side
        assert len(sync_side["all_results"]) == 3

        # the state-changing requests: each side answers as the other would
        async def async_changes() -> tuple[object, ...]:
            a = AsyncClient("t-async")
            try:
                cancel = _plain(await a.cancel(job.job_id))
                switched = (await a.switch_model("echo:delay=0", wait=True)).name
                unloaded = (await a.unload_model()).state
                loaded = (await a.load_model("echo", wait=True)).name
                try:
                    await a.resume(job.job_id)
                except DaemonError as exc:
                    return cancel, switched, unloaded, loaded, exc.code
                return cancel, switched, unloaded, loaded, ""
            finally:
                a.close()

        def sync_changes() -> tuple[object, ...]:
            cancel = _plain(c.cancel(job.job_id))
            switched = c.switch_model("echo:delay=0", wait=True).name
            unloaded = c.unload_model().state
            loaded = c.load_model("echo", wait=True).name
            try:
                c.resume(job.job_id)
            except DaemonError as exc:
                return cancel, switched, unloaded, loaded, exc.code
            return cancel, switched, unloaded, loaded, ""

        expected = (_plain(finished), "echo:delay=0", "none", "echo", "bad_request")  # a done job: nothing to resume
        assert sync_changes() == expected
        assert asyncio.run(async_changes()) == expected
        assert c.bye().message == "bye"


def test_events_deliver_a_jobs_states_and_a_model_load(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("t") as c:
        events = c.events(idle_timeout=10)
        c.ping()
        # a subscription takes effect a moment after it is made (PUB/SUB): load until the events show it
        c.load_model(wait=True)
        models: list[str] = []
        for event in events:
            assert isinstance(event, (P.ModelEvent, P.JobStateEvent))
            if isinstance(event, P.ModelEvent):
                models.append(event.model.state)
                if event.model.state == "loaded":
                    break
        assert models[-1] == "loaded"

        job = c.submit("echo", _items(2)).job
        states = []
        for event in events:
            if isinstance(event, P.JobStateEvent) and event.job.job_id == job.job_id:
                states.append(event.job.state)
                if event.job.state in P.FINAL_STATES:
                    break
        assert states == ["queued", "running", "done"]
        events.close()


def test_async_events_deliver_model_changes(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    async def run() -> list[str]:
        c = AsyncClient("t")
        try:
            events = c.events(idle_timeout=10)
            await c.ping()
            await c.load_model(wait=True)
            await c.unload_model()
            seen = []
            async for event in events:
                if isinstance(event, P.ModelEvent):
                    seen.append(event.model.state)
                    if event.model.state == "none":
                        return seen
            return seen
        finally:
            c.close()

    seen = asyncio.run(run())
    assert "loaded" in seen and seen[-1] == "none"


def test_a_stream_closed_before_its_first_item_unsubscribes(start_daemon):
    # subscribe first, then read the state: when that read fails, closing the unread stream must unsubscribe
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")

    async def run() -> None:
        c = AsyncClient("t")
        try:
            for subscribe in (c.events, lambda: c.follow("no-such-job")):
                stream = subscribe()
                assert c.topics
                await stream.aclose()
                assert stream.closed and c.topics == []
        finally:
            c.close()

    asyncio.run(run())


CHILD = textwrap.dedent(
    """
    import sys
    from imageworks.client import Client
    c = Client(sys.argv[1])
    c.ping()
    print("ready", flush=True)
    sys.stdin.read()
    c.close()
    """
)


def _live(observer: Client) -> list[P.ClientInfo]:
    return observer.status().clients


def test_live_clients_one_per_process_bye_and_expiry(start_daemon):
    # expiry 4 s: long enough that a child started on a loaded machine (1 s or more) is still listed when checked
    start_daemon(IMAGEWORKS_DAEMON_CLIENT_EXPIRY_S="4")
    assert client.daemon_alive() is not None
    probe = Client("probe", register=False)
    assert probe.status().clients == []  # neither daemon_alive nor a non-registering client is listed

    clients = [Client(f"mine-{i}") for i in range(3)]
    for c in clients:
        c.ping()
    (mine,) = _live(probe)
    assert mine.name == "mine-0" and mine.requests >= 3

    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, f"child-{i}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for i in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        clients[0].ping()  # this process stays live however long the children took to start
        names = sorted(c.name for c in _live(probe))
        assert names == ["child-0", "child-1", "mine-0"]
        pids = {c.name: c.pid for c in _live(probe)}
        assert pids["child-0"] == children[0].pid
        children[0].communicate(b"")  # closes its client: bye, gone at once
        assert sorted(c.name for c in _live(probe)) == ["child-1", "mine-0"]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    # child-1 was killed without bye, and this process stays silent: both expire
    wait_for(lambda: _live(probe) == [], timeout=15, what="silent clients to expire", interval=0.2)
    clients[0].ping()  # a silent client that speaks again is live again
    assert [c.name for c in _live(probe)] == ["mine-0"]
    for c in clients:
        c.close()
    assert _live(probe) == []  # the process's last client said bye
    probe.close()
