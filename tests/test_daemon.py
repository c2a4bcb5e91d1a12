"""The daemon spine with real processes and real ZeroMQ sockets under temp XDG dirs (echo backend)."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import zmq

from imageworks import client, paths
from imageworks import protocol as P
from imageworks.client import Client
from imageworks.errors import DaemonError
from imageworks.jobs.records import EchoRecord
from imageworks.protocol import wire
from tests.raw_dealer import expect_reply, raw_dealer, recv_reply
from tests.typed_records import records_of
from tests.waiting import wait_for, wait_model_loaded

ECHO_SLOW = "echo:delay=0.05"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def items(n: int) -> list[dict]:
    return [{"text": f"item {i}"} for i in range(n)]


def test_two_clients_at_once_model_loaded_once(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    outputs: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with Client(name) as c:
                job = c.submit("echo", [{"text": f"{name} {i}"} for i in range(6)], batch_size=2).job
                results = [r for r in c.follow(job.job_id) if isinstance(r, P.ResultRecord)]
                outputs[name] = [r.output for r in records_of(results, EchoRecord)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(outputs["alice"]) == [f"echo: alice {i}" for i in range(6)]
    assert sorted(outputs["bob"]) == [f"echo: bob {i}" for i in range(6)]
    with Client("check") as c:
        st = c.status()
    assert st.counters.model_loads == 1
    assert st.counters.inferences == 12
    assert st.counters.jobs == 2
    assert st.counters.clients >= 1  # one session per process, however many clients (threads) it made
    assert [c.name for c in st.clients] == ["check"]


FOLLOWER = textwrap.dedent(
    """
    import sys
    from imageworks.client import Client
    from imageworks import protocol as P
    c = Client("victim")
    job = c.submit("echo", [{"text": f"item {i}"} for i in range(40)], batch_size=2).job
    print(job.job_id, flush=True)
    for ev in c.follow(job.job_id):
        if isinstance(ev, P.ResultRecord):
            print(ev.index, flush=True)
    """
)


def test_client_killed_mid_job_new_client_gets_every_result_once(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    victim = subprocess.Popen([sys.executable, "-c", FOLLOWER], stdout=subprocess.PIPE, text=True)
    assert victim.stdout is not None  # stdout=PIPE
    job_id = victim.stdout.readline().strip()
    for _ in range(3):  # it has received some results
        victim.stdout.readline()
    victim.send_signal(signal.SIGKILL)
    victim.wait(5)
    with Client("rescuer") as c:
        assert c.attach(job_id).job.state == "running"  # the disconnect did not cancel the job
        seen = [ev.index for ev in c.follow(job_id) if isinstance(ev, P.ResultRecord)]
        assert sorted(seen) == list(range(40))  # every result, none twice
        assert c.attach(job_id).job.state == "done"


def test_daemon_killed_mid_job_then_resume_finishes_only_missing(start_daemon):
    first = start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    with Client("c1") as c:
        job_id = c.submit("echo", items(30), batch_size=2).job.job_id
        wait_model_loaded(c)  # the job loads the model: the wait on items starts once it is loaded

        def done() -> int:
            return c.attach(job_id).job.done

        wait_for(lambda: done() >= 6, what="some results", progress=done)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    # the killed daemon left its sockets and connection file behind
    assert paths.connection_file().exists()
    assert client.daemon_alive(timeout=0.3) is None

    second = start_daemon(IMAGEWORKS_MODEL_NAME=ECHO_SLOW)
    assert second.boot_id != first.boot_id
    with Client("c2") as c:
        job = c.attach(job_id).job
        assert job.state == "interrupted"
        done_before = {r.index: r.seq for r in c.all_results(job_id)}
        assert 6 <= len(done_before) < 30
        resumed = c.resume(job_id)
        assert resumed.job.job_id == job_id
        final = [ev for ev in c.follow(job_id) if isinstance(ev, P.JobInfo)][-1]
        assert final.state == "done"
        results = c.all_results(job_id)
        assert sorted(r.index for r in results) == list(range(30))
        # items done before the kill kept their original result (same seq): not recomputed
        for r in results:
            if r.index in done_before:
                assert r.seq == done_before[r.index]
        assert c.status().counters.inferences == 30 - len(done_before)

    # a second daemon while one runs: refused with a clear message, the first keeps serving
    proc = subprocess.run(
        [sys.executable, "-m", "imageworks", "daemon", "start", "--foreground"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "already running" in proc.stderr and str(second.pid) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert client.daemon_alive() is not None


def test_worker_killed_daemon_survives_items_fail_naming_crash(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.3")
    with Client("c") as c:
        c.load_model(wait=True)
        worker_pid = c.status().model.worker_pid
        assert pid_alive(worker_pid)
        job_id = c.submit("echo", items(10), batch_size=2).job.job_id
        wait_for(lambda: c.status().running_job == job_id, what="job running")
        os.kill(worker_pid, signal.SIGKILL)
        final = wait_for(lambda: (j := c.attach(job_id).job).state in P.FINAL_STATES and j, what="job to end")
        assert final.state == "failed"
        assert "SIGKILL" in final.error and "worker" in final.error
        failed = [r for r in c.all_results(job_id) if r.status == "error"]
        assert failed and all("worker crashed" in r.record.error for r in failed)
        assert c.ping().boot_id  # daemon still answers
        st = c.status()
        assert st.model.state == "crashed" and not st.model.loaded
        # the next explicit load starts a fresh worker
        c.load_model(wait=True)
        new_pid = c.status().model.worker_pid
        assert new_pid != worker_pid and pid_alive(new_pid)
        assert c.status().counters.model_loads == 2


def test_cancel_acknowledged_and_stopped_within_one_second(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.2")
    with Client("c") as c:
        c.load_model(wait=True)
        job_id = c.submit("echo", items(200), batch_size=4).job.job_id
        wait_for(lambda: c.attach(job_id).job.done >= 2, what="progress")
        t0 = time.monotonic()
        info = c.cancel(job_id)
        assert info.state == "cancelled"
        wait_for(lambda: c.status().running_job == "", timeout=1.0, what="runner to stop")
        assert time.monotonic() - t0 < 1.0
        done = c.attach(job_id).job.done
        assert done < 200
        # nothing more happens after the stop
        inferences = c.status().counters.inferences
        c.ping()
        assert c.attach(job_id).job.done == done
        assert c.status().counters.inferences == inferences


def test_bad_frames_get_error_or_drop_and_daemon_keeps_serving(start_daemon):
    start_daemon(IMAGEWORKS_DAEMON_MAX_MESSAGE_BYTES="65536")
    info = client.read_connection()
    assert info is not None  # the daemon is up
    signer = P.Signer(info["key"].encode())
    ctx = zmq.Context()
    sock = raw_dealer(ctx)
    try:
        # garbage frames, unsigned: dropped
        sock.send_multipart([b"\x00\xff", b"junk"])
        sock.send_multipart([b"not-a-signature", b"x", b"y"])
        assert recv_reply(sock, signer, 300) is None
        # wrong HMAC key: dropped
        header = P.make_header("ping", "evil")
        bad = P.encode(P.Signer(b"wrong key"), header, P.Ping())
        sock.send_multipart(bad)
        assert recv_reply(sock, signer, 300) is None
        # validly signed but malformed body: error reply naming the problem
        h = wire._encoder.encode(P.make_header("job.submit", "t"))
        b = b"\xc1\xc1"
        sock.send_multipart([signer.sign(h, b), h, b])
        reply = expect_reply(sock, signer)
        assert isinstance(reply.body, P.Error) and reply.body.code == "bad_request"
        # unknown type
        h = wire._encoder.encode(P.make_header("frobnicate", "t"))
        b = wire._encoder.encode({})
        sock.send_multipart([signer.sign(h, b), h, b])
        reply = expect_reply(sock, signer)
        assert reply.body.code == "unknown_type"
        # wrong protocol version
        vh = P.Header(msg_id=P.new_id(), type="ping", session="t", date=time.time(), version=99)
        h = wire._encoder.encode(vh)
        b = wire._encoder.encode(P.Ping())
        sock.send_multipart([signer.sign(h, b), h, b])
        reply = expect_reply(sock, signer)
        assert reply.body.code == "version_mismatch"
        # replay of a message already served
        header = P.make_header("ping", "t")
        frames = P.encode(signer, header, P.Ping())
        sock.send_multipart(frames)
        assert isinstance(expect_reply(sock, signer).body, P.Pong)
        sock.send_multipart(frames)
        assert expect_reply(sock, signer).body.code == "replayed"
        # oversized (above MAXMSGSIZE): the peer is disconnected, no reply
        big = P.encode(signer, P.make_header("job.submit", "t"), P.JobSubmit(kind="echo", items=items(20000)))
        sock.send_multipart(big)
        assert recv_reply(sock, signer, 500) is None
    finally:
        sock.close(0)
        ctx.term()
    with Client("after") as c:  # still serving
        assert c.ping().boot_id
        assert c.status().counters.rejected_frames >= 6


def test_permissions_of_socket_dir_and_connection_file(start_daemon):
    start_daemon()
    assert stat.S_IMODE(paths.runtime_dir().stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.connection_file().stat().st_mode) == 0o600
    for name in ("requests.sock", "events.sock"):
        assert stat.S_IMODE((paths.runtime_dir() / name).stat().st_mode) & 0o077 == 0


def test_shutdown_exits_fast_and_leaves_no_orphan(start_daemon):
    d = start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.5")
    with Client("c") as c:
        c.load_model(wait=True)
        worker_pid = c.status().model.worker_pid
        job_id = c.submit("echo", items(50)).job.job_id
        wait_for(lambda: c.status().running_job == job_id, what="job running")
        t0 = time.monotonic()
        c.shutdown()
    d.proc.wait(5)
    assert time.monotonic() - t0 < 2.0
    wait_for(lambda: not pid_alive(worker_pid), timeout=2, what="worker exit")
    assert not paths.connection_file().exists()
    assert client.daemon_alive(timeout=0.2) is None
    # the running job was journaled as interrupted (resumable)
    d2 = start_daemon()
    with Client("c") as c:
        assert c.attach(job_id).job.state == "interrupted"
    d2.stop()


def test_overloaded_answers_at_once(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.5", IMAGEWORKS_DAEMON_MAX_QUEUE="2")
    with Client("c") as c:
        c.load_model(wait=True)
        c.submit("echo", items(20))
        wait_for(lambda: c.status().running_job, what="first job running")
        c.submit("echo", items(1))
        c.submit("echo", items(1))
        t0 = time.monotonic()
        with pytest.raises(DaemonError) as err:
            c.submit("echo", items(1))
        assert err.value.code == "overloaded"
        assert time.monotonic() - t0 < 1.0


def test_idempotent_submit_and_model_rules(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    with Client("c") as c:
        a = c.submit("echo", items(2), idempotency_key="k1")
        b = c.submit("echo", items(2), idempotency_key="k1")
        assert a.created and not b.created and a.job.job_id == b.job.job_id
        c.load_model(wait=True)
        with pytest.raises(DaemonError) as err:
            c.submit("echo", items(1), model="echo:delay=1")
        assert err.value.code == "model_mismatch"
        with pytest.raises(DaemonError) as err:
            c.submit("nope", items(1))
        assert err.value.code == "bad_request" and "unknown job kind" in str(err.value)
        with pytest.raises(DaemonError) as err:
            c.attach("missing")
        assert err.value.code == "unknown_job"
        # the first job loaded the model; wait_model returns on the load event, so that job may still be running
        wait_for(lambda: c.attach(a.job.job_id).job.state == "done", what="the first job to finish")
        state = c.switch_model("echo:delay=0", wait=True)
        assert state.name == "echo:delay=0" and c.status().counters.model_loads == 2
        c.unload_model()
        assert c.status().model.state == "none"


def test_client_reports_no_daemon_clearly():
    with pytest.raises(DaemonError) as err:
        Client("c").ping()
    assert err.value.code == "not_running"


def test_cli_status_json_and_stop(start_daemon):
    start_daemon(IMAGEWORKS_MODEL_NAME="echo")
    import json

    out = subprocess.run(
        [sys.executable, "-m", "imageworks", "daemon", "status", "--json"], capture_output=True, text=True, timeout=30
    )
    data = json.loads(out.stdout)
    for key in ("boot_id", "pid", "uptime", "queue_depth"):
        assert key in data
    assert set(data["model"]) >= {"name", "loaded"}
    assert set(data["counters"]) >= {"model_loads", "inferences", "jobs"}
    with Client("review-tool") as other:  # another client connected: the plain status names it, and this command
        other.status()  # its hello goes with its first request
        plain = subprocess.run(
            [sys.executable, "-m", "imageworks", "daemon", "status"], capture_output=True, text=True, timeout=30
        )
    assert f"  review-tool (pid {os.getpid()}): " in plain.stdout
    assert re.search(r"^  cli \(pid \d+\): \d+ requests \(this command\)$", plain.stdout, re.M), plain.stdout
    out = subprocess.run(
        [sys.executable, "-m", "imageworks", "daemon", "stop", "--json"], capture_output=True, text=True, timeout=30
    )
    assert json.loads(out.stdout)["stopped"] is True
    out = subprocess.run(
        [sys.executable, "-m", "imageworks", "daemon", "status", "--json"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 3 and json.loads(out.stdout) == {"running": False}


async def test_async_client_follow_delivers_every_result_once(start_daemon):
    from imageworks.client import AsyncClient

    start_daemon(IMAGEWORKS_MODEL_NAME="echo:delay=0.02")
    c = AsyncClient("async")
    try:
        job = (await c.submit("echo", items(12), batch_size=3)).job
        seen, states = [], []
        async for event in c.follow(job.job_id, resync_s=0.2):
            if isinstance(event, P.ResultRecord):
                seen.append(event.index)
            else:
                assert isinstance(event, P.JobInfo), event  # no progress events: not asked for
                states.append(event.state)
        assert sorted(seen) == list(range(12))
        assert states[-1] == "done"
        assert (await c.status()).counters.inferences == 12
    finally:
        c.close()


def test_job_larger_than_a_journal_page_runs_every_item_once(start_daemon):
    from imageworks.daemon.runner import PAGE

    start_daemon(IMAGEWORKS_MODEL_NAME="echo", IMAGEWORKS_MODEL_BATCH_SIZE="16")
    n = PAGE * 2 + 17
    with Client("c") as c:
        job = c.submit("echo", items(n), batch_size=16).job
        seen = [e.index for e in c.follow(job.job_id) if isinstance(e, P.ResultRecord)]
        assert sorted(seen) == list(range(n))
        assert c.status().counters.inferences == n
