"""Cloud check finds the VM of an intent whose cid was never saved (the director died while
the CPI was making it) through the VM's own agent, and deletes it; it does not believe an
agent that names a VM another record holds or the CPI does not have, and offers to forget
an intent nobody answers for.

Each VM is made the way create_vm makes it, with the steps after the CPI's answer taken by
the test instead of a director that died: the intent recorded without its cid, the agent's
NATS user added before the CPI is asked, the dummy CPI's create_vm, and its agent started
(bootstrap_agent) with its settings. The agents are real processes on a real nats-server;
the director is in-process (tests/director/conftest.py) with a real NATS connection."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path

import nats
import pytest

from bosh_py.director.agent_credentials import AgentCredentials
from bosh_py.director.cck.problems import choose
from bosh_py.director.cck.resolve import resolve
from bosh_py.director.cck.scan import scan
from bosh_py.director.cck.unknown_vms import ANSWER_TIMEOUT
from bosh_py.director.models import Deployment, Instance
from bosh_py.director.orphan_vms import orphaned_vms, record_intent
from bosh_py.director.secrets import new_password
from bosh_py.mbus.agent_client import ReplyRouter
from bosh_py.mbus.server import NatsServer
from tests.harness import BIN

DEPLOYMENT = "d"
CPI = BIN / "bosh-py-cpi-dummy"


def log(_line: str) -> None:
    pass


@pytest.fixture
def dummy_cpi(tmp_path):
    state = tmp_path / "dummy"
    state.mkdir(mode=0o700)
    config = tmp_path / "dummy-cpi.json"
    config.write_text(json.dumps({"state_dir": str(state), "agent_host_rewrite": "127.0.0.1"}))
    try:
        yield config
    finally:  # every agent process the dummy CPI started, stopped by its recorded PID
        subprocess.run([str(CPI), "cleanup", str(config)], capture_output=True, timeout=60, check=False)


def dummy_vms(config: Path) -> dict:
    return json.loads(subprocess.run([str(CPI), "list", str(config)], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)["vms"]


class Live:
    """The in-process director, connected to its nats-server, with the dummy CPI's stemcell."""

    def __init__(self, director, stemcell: str) -> None:  # type: ignore[no-untyped-def]
        self.director = director
        self.stemcell = stemcell
        self.ips = iter(range(20, 250))

    async def make_vm(self, name: str, claim: str | None = None) -> tuple[str, str]:
        """A VM and its running agent, recorded only as an intent without its cid; the agent
        reports ``claim`` as its VM name when given (a compromised agent). (agent id, cid)."""
        director = self.director
        agent_id, password, ip = uuid.uuid4().hex, new_password(), f"127.254.0.{next(self.ips)}"
        with director.sessions.begin() as session:
            record_intent(session, agent_id, "default", ip, DEPLOYMENT, name)
        await asyncio.to_thread(director.nats_server.add_agent, agent_id, password)
        cpi = director.cpi(log)
        networks = {"default": {"type": "manual", "ip": ip, "netmask": "255.255.255.0", "gateway": "127.254.0.1"}}
        cid = (await cpi.call("create_vm", agent_id, self.stemcell, {}, networks, [], {}))[0]
        settings = {"agent_id": agent_id, "mbus": director.nats_server.agent_url(agent_id, password, host="127.0.0.1"),
                    "blobstore": AgentCredentials.load_or_create(director.config.agent_blobstore_key_path).settings(
                        director.blobstore_url_for_agents, agent_id),
                    "heartbeat_interval": 1, "vm": {"cid": claim or cid}, "env": {}}
        await cpi.call("bootstrap_agent", cid, settings)
        await director.replies.client(agent_id).wait_until_ready(30, ping_timeout=1.0)
        return agent_id, cid

    def save_instance(self, agent_id: str, cid: str) -> None:
        """What a finished create records: the instance row holds the VM."""
        with self.director.sessions.begin() as session:
            deployment = session.query(Deployment).filter_by(name=DEPLOYMENT).one()
            session.add(Instance(deployment_id=deployment.id, group="web", index=0, uuid=uuid.uuid4().hex,
                                 az="z1", state="started", ip=None, vm_cid=cid, agent_id=agent_id, applied_spec={}))

    def intents(self) -> list[tuple[str, str | None]]:
        with self.director.sessions.begin() as session:
            return [(vm.agent_id, vm.vm_cid) for vm in orphaned_vms(session, DEPLOYMENT)]


def run_live(make_director, dummy_cpi: Path, tmp_path: Path, scenario) -> None:  # type: ignore[no-untyped-def]
    director = make_director(str(CPI), dummy_cpi)
    image = tmp_path / "image"
    image.write_text("dummy image\n")
    with director.sessions.begin() as session:
        session.add(Deployment(name=DEPLOYMENT, manifest_text=""))

    async def main() -> None:
        nc = await nats.connect(**director.nats_server.director_connect_options())
        director.nats = nc
        director.replies = ReplyRouter(nc, director.secrets.director_uuid)
        await director.replies.start()
        try:
            stemcell = await director.cpi(log).call("create_stemcell", str(image), {})
            await scenario(Live(director, stemcell))
        finally:
            await director.replies.close()
            await nc.close()

    asyncio.run(main())


def test_an_unsaved_vm_is_found_through_its_agent_and_deleted(make_director, dummy_cpi, tmp_path):
    async def scenario(live: Live) -> None:
        agent_id, cid = await live.make_vm("web/u-1")
        assert live.intents() == [(agent_id, None)]
        # the agent's NATS login outlives the director: a restarted one reads the same users
        server = live.director.nats_server
        assert agent_id in NatsServer(server.workdir, port=server.port, director_password="x").agents()
        started = time.monotonic()
        (problem,) = await scan(live.director, DEPLOYMENT, log)
        took = time.monotonic() - started
        assert (problem.type, problem.resource, problem.offered) == ("unknown_vm", cid, ("delete_vm", "ignore"))
        assert "found through its agent" in problem.description
        assert took < ANSWER_TIMEOUT, f"a live agent answers at once (scan took {took:.2f}s)"
        await resolve(live.director, problem, choose(problem, {}, auto=True), 1, log)
        assert cid not in dummy_vms(dummy_cpi)
        assert live.intents() == []
        assert agent_id not in server.agents(), "its NATS user is revoked with the VM"
        assert await scan(live.director, DEPLOYMENT, log) == []

    run_live(make_director, dummy_cpi, tmp_path, scenario)


def test_an_agent_naming_a_vm_another_record_holds_is_not_believed(make_director, dummy_cpi, tmp_path):
    async def scenario(live: Live) -> None:
        saved_agent, saved_cid = await live.make_vm("web/u-1")
        live.save_instance(saved_agent, saved_cid)
        liar, liar_cid = await live.make_vm("web/u-2", claim=saved_cid)
        (problem,) = await scan(live.director, DEPLOYMENT, log)
        assert (problem.type, problem.resource, problem.offered) == ("unknown_vm", liar, ("ignore", "forget"))
        assert f"names VM {saved_cid}, which instance {DEPLOYMENT}/web/" in problem.description
        assert choose(problem, {}, auto=True) == "ignore"
        assert choose(problem, {"unknown_vm": "delete_vm"}, auto=False) == "ignore", "never a delete"
        assert {saved_cid, liar_cid} <= set(dummy_vms(dummy_cpi))

    run_live(make_director, dummy_cpi, tmp_path, scenario)


def test_an_agent_naming_a_vm_its_cpi_does_not_have_is_not_believed(make_director, dummy_cpi, tmp_path):
    async def scenario(live: Live) -> None:
        agent_id, cid = await live.make_vm("web/u-1", claim="vm-that-does-not-exist")
        (problem,) = await scan(live.director, DEPLOYMENT, log)
        assert (problem.resource, problem.offered) == (agent_id, ("ignore", "forget"))
        assert "which CPI 'default' does not have" in problem.description
        assert cid in dummy_vms(dummy_cpi)

    run_live(make_director, dummy_cpi, tmp_path, scenario)


def test_an_intent_no_agent_answers_for_is_offered_forget(make_director, dummy_cpi, tmp_path):
    async def scenario(live: Live) -> None:
        agent_id = uuid.uuid4().hex
        with live.director.sessions.begin() as session:
            record_intent(session, agent_id, "default", "127.254.0.9", DEPLOYMENT, "web/u-9")
        (problem,) = await scan(live.director, DEPLOYMENT, log)
        assert (problem.resource, problem.offered) == (agent_id, ("forget", "ignore"))
        assert f"no agent answered in {ANSWER_TIMEOUT:g}s" in problem.description
        assert choose(problem, {"unknown_vm": "delete_vm"}, auto=False) == "ignore", "nothing to delete"
        await resolve(live.director, problem, choose(problem, {}, auto=True), 1, log)
        assert live.intents() == []

    run_live(make_director, dummy_cpi, tmp_path, scenario)
