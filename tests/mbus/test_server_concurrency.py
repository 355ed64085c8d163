"""The director adds agents from many threads at once (parallel VM creation)."""

from concurrent.futures import ThreadPoolExecutor

from bosh_py.mbus.server import NatsServer, UserStore


def test_parallel_add_agent_keeps_every_user(tmp_path):
    server = NatsServer(tmp_path / "nats", director_password="director-secret")
    agent_ids = [f"{n:032x}" for n in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(lambda agent_id: server.add_agent(agent_id, "pw-" + agent_id), agent_ids))
    assert server.agents() == sorted(agent_ids)
    assert sorted(UserStore.load(tmp_path / "nats" / "users.json").agents) == sorted(agent_ids)
    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(server.remove_agent, agent_ids[:6]))
    assert server.agents() == sorted(agent_ids[6:])
