"""Review fix: a create_vm cancelled while the CPI is still making the VM (an operator's
`cancel-task`, a director stopping) still deletes that VM and the agent's NATS login.

The real local CPI makes a VM in about 100 ms, too fast to cancel in the middle; this CPI
executable speaks the same stdin/stdout protocol and holds create_vm open until the test
lets it finish, recording every VM it made and deleted in its state directory.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from bosh_py.director.vm_lifecycle import VmRequest, create_vm
from tests.harness import wait_until

SLOW_CPI = f"""#!{sys.executable}
import json, sys, time, uuid
from pathlib import Path

state = Path(json.loads(Path(sys.argv[1]).read_text())["state"])
request = json.loads(sys.stdin.read())
method, args = request["method"], request["arguments"]
result = None
if method == "create_vm":
    (state / "creating").write_text(args[0])
    deadline = time.monotonic() + 60
    while not (state / "finish").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    result = "vm-" + uuid.uuid4().hex[:8]
    (state / "vms" / result).write_text(args[0])
    with (state / "created.log").open("a") as log:
        log.write(result + "\\n")
elif method == "delete_vm":
    (state / "vms" / args[0]).unlink(missing_ok=True)
    with (state / "deleted.log").open("a") as log:
        log.write(args[0] + "\\n")
print(json.dumps({{"result": result, "error": None, "log": ""}}))
"""


@pytest.fixture
def slow_cpi(tmp_path) -> tuple[Path, Path]:
    """(executable, config) of the slow CPI; its state directory is beside them."""
    state = tmp_path / "cpi-state"
    (state / "vms").mkdir(parents=True)
    executable = tmp_path / "slow-cpi"
    executable.write_text(SLOW_CPI)
    executable.chmod(0o755)
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"state": str(state)}))
    return executable, config


def logged(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_cancelled_create_vm_deletes_the_vm_the_cpi_finishes(make_director, slow_cpi):
    executable, config = slow_cpi
    state = config.parent / "cpi-state"
    director = make_director(str(executable), config)
    request = VmRequest("stemcell-1", {}, {"default": {"type": "manual", "ip": "10.245.8.20"}})

    async def cancel_mid_create() -> str:
        creating = asyncio.create_task(create_vm(director, request, lambda _line: None))
        await asyncio.to_thread(wait_until, lambda: (state / "creating").exists(), 30, 0.02, "create_vm to start")
        agent_id = (state / "creating").read_text()
        assert agent_id in director.nats_server.agents()
        creating.cancel()
        (state / "finish").write_text("")  # the CPI completes the VM after the cancel
        with pytest.raises(asyncio.CancelledError):
            await creating
        return agent_id

    agent_id = asyncio.run(cancel_mid_create())
    created = wait_until(lambda: logged(state / "created.log"), 30, message="the CPI to finish the VM")
    assert logged(state / "deleted.log") == created, "the VM the CPI made after the cancel was left behind"
    assert list((state / "vms").iterdir()) == []
    assert agent_id not in director.nats_server.agents()
