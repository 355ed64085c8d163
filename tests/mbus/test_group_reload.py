"""Agents added from many threads at once share nats-server reloads (issue 11: a reload per
VM made a 100-instance deploy time out), yet each can log in as soon as its call returns."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import nats
import pytest

from bosh_py.mbus.errors import MbusError
from bosh_py.mbus.group_commit import GroupCommit
from bosh_py.mbus.server import NatsServer
from bosh_py.mbus.urls import connect_options
from tests.harness import free_port, wait_until


@pytest.fixture
def server(tmp_path):
    nats_server = NatsServer(tmp_path / "nats", "127.0.0.1", free_port(),
                             director_password=secrets.token_urlsafe(16))
    nats_server.start()
    yield nats_server
    nats_server.stop()


def confirmed_reloads(server: NatsServer) -> int:
    return server.log_path.read_text().count("Reloaded server configuration")


async def log_in(server: NatsServer, agent_id: str, password: str) -> None:
    """One attempt, no retry: fails if the server does not know the agent yet."""
    nc = await nats.connect(**connect_options(server.agent_url(agent_id, password)),
                            allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5)
    await nc.close()


def test_fifty_agents_from_fifty_threads_share_few_reloads_and_log_in_at_once(server):
    count = 50
    before = confirmed_reloads(server)
    start = threading.Barrier(count)

    def add_then_log_in(n: int) -> None:
        agent_id, password = f"agent{n:02d}", secrets.token_urlsafe(24)
        start.wait()
        server.add_agent(agent_id, password)
        # Right after add_agent returned, with no other thread's reload in flight: nats-server
        # refuses a client whose CONNECT overlaps a reload's re-check of its clients (an
        # "authentication error" in its log; agents retry a second later), which would make
        # this test flaky without saying anything about whether our reload was confirmed.
        with server._users_lock:
            asyncio.run(log_in(server, agent_id, password))

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(add_then_log_in, range(count)))  # re-raises a failed login

    reloads = confirmed_reloads(server) - before
    assert 1 <= reloads <= 10, f"{reloads} reloads for {count} agents"
    assert server.reloads == reloads  # every apply reloaded the running server, and was confirmed
    assert len(server.agents()) == count

    # removals from many threads are batched the same way, and the users are gone
    before = confirmed_reloads(server)
    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(server.remove_agent, [f"agent{n:02d}" for n in range(count)]))
    assert confirmed_reloads(server) - before <= 10
    assert server.agents() == []


def test_a_rejected_reload_raises_for_every_caller_it_carried(server):
    callers = 8
    errors: list[BaseException] = []
    returned: list[str] = []

    def add(n: int) -> None:
        try:
            server.add_agent(f"late{n}", "pw")
            returned.append(f"late{n}")
        except MbusError as error:
            errors.append(error)

    reloads_before = server.reloads
    with server._users_lock:  # a reload in progress: every add below joins the next batch
        threads = [threading.Thread(target=add, args=(n,)) for n in range(callers)]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(server.agents()) == callers, message="every change recorded")
        real_port, server.port = server.port, free_port()  # nats-server cannot reload a new port
    for thread in threads:
        thread.join(30)
    assert returned == []
    assert len(errors) == callers
    for error in errors:
        assert "nats-server rejected its new configuration" in str(error)
        assert "config reload not supported for Port" in str(error)
        assert f"one of {callers} changes applied together" in str(error)
    assert server.reloads == reloads_before + 1  # all eight carried by one reload

    server.port = real_port  # the next change applies again
    server.add_agent("after", "pw-after")
    asyncio.run(log_in(server, "after", "pw-after"))


def test_a_change_made_during_an_apply_waits_for_the_next_one(tmp_path):
    """Group commit's promise without a server: an apply already under way never counts for a
    change it did not snapshot."""
    state: set[str] = set()
    applied: list[set[str]] = []
    first_started, release_first = threading.Event(), threading.Event()

    def apply(snapshot: set[str]) -> None:
        applied.append(snapshot)
        if len(applied) == 1:
            first_started.set()
            release_first.wait(10)

    commit: GroupCommit[set[str]] = GroupCommit(threading.Lock(), lambda: set(state), apply)

    def add(name: str) -> bool:
        state.add(name)
        return True

    done: dict[str, float] = {}

    def caller(name: str) -> None:
        commit.change(lambda: add(name))
        done[name] = time.monotonic()

    first = threading.Thread(target=caller, args=("a",))
    first.start()
    assert first_started.wait(10)
    late = [threading.Thread(target=caller, args=(name,)) for name in ("b", "c", "d")]
    for thread in late:
        thread.start()
    wait_until(lambda: state == {"a", "b", "c", "d"}, message="late changes recorded")
    time.sleep(0.1)
    assert set(done) == set()  # nobody returned while the first apply was held
    released = time.monotonic()
    release_first.set()
    for thread in [first, *late]:
        thread.join(10)
    assert applied == [{"a"}, {"a", "b", "c", "d"}]  # the three late ones: one apply
    assert commit.applies == 2
    assert all(done[name] >= released for name in "bcd")
    assert commit.change(lambda: False) is None and commit.applies == 2  # no change, no apply


def test_a_reload_stays_cheap_with_many_agents_connected(server):
    """nats-server re-verifies every connected client's password on each reload: agent
    hashes use bcrypt's minimum cost, so 60 connected agents add ~0.1 s, not 4 s."""
    passwords = {f"c{n}": secrets.token_urlsafe(24) for n in range(60)}
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda item: server.add_agent(*item), passwords.items()))
    stored = json.loads((server.workdir / "users.json").read_text())["agents"]
    assert all(stored[agent].startswith("$2a$04$") for agent in passwords)

    async def hold_connections() -> None:
        clients = [await nats.connect(**connect_options(server.agent_url(agent, password)),
                                      allow_reconnect=False)
                   for agent, password in passwords.items()]
        try:
            started = time.monotonic()
            await asyncio.to_thread(server.add_agent, "one-more", "pw-one-more")
            took = time.monotonic() - started
            assert took < 2.0, f"a reload with 60 agents connected took {took:.1f}s"
            assert all(client.is_connected for client in clients)  # every login survived it
        finally:
            for client in clients:
                await client.close()
    asyncio.run(hold_connections())
