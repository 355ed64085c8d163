"""VM intents (orphan_vms.py): create_vm records the VM before it asks the CPI and its cid
as soon as the CPI answers, so a director that dies in between leaves a record `bosh-py
orphaned-vms` and `bosh-py cck` find; a create that fails and is cleaned up leaves none,
and one whose clean-up failed keeps it. The CPI is an executable speaking the real
stdin/stdout protocol that holds create_vm open until the test lets it finish; the create
then fails for real on what follows the CPI's answer (a network without an IP: dynamic
networks need the VM's agent to report one, and this VM has none)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from bosh_py.director.orphan_vms import orphaned_vms
from bosh_py.director.vm_lifecycle import VmRequest, create_vm
from tests.harness import wait_until

HELD_CPI = f"""#!{sys.executable}
import json, sys, time
from pathlib import Path

state = Path(json.loads(Path(sys.argv[1]).read_text())["state"])
request = json.loads(sys.stdin.read())
method, args = request["method"], request["arguments"]
result, error = None, None
if method == "create_vm":
    (state / "creating").write_text(args[0])
    deadline = time.monotonic() + 60
    while not (state / "finish").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    result = ["vm-held-1", {{}}]
elif method == "delete_vm" and (state / "fail-delete").exists():
    error = {{"type": "Bosh::Clouds::CloudError", "message": "IaaS unavailable", "ok_to_retry": False}}
print(json.dumps({{"result": result, "error": error, "log": ""}}))
"""


@pytest.fixture
def held_cpi(tmp_path) -> tuple[Path, Path, Path]:
    state = tmp_path / "cpi-state"
    state.mkdir()
    executable = tmp_path / "held-cpi"
    executable.write_text(HELD_CPI)
    executable.chmod(0o755)
    config = tmp_path / "cpi.json"
    config.write_text(json.dumps({"state": str(state)}))
    return executable, config, state


def listed(director) -> list[tuple[str | None, str | None, str | None]]:  # type: ignore[no-untyped-def]
    with director.sessions.begin() as session:
        return [(vm.vm_cid, vm.ip, vm.instance) for vm in orphaned_vms(session)]


def create_and_fail(director, state: Path) -> list:  # type: ignore[no-untyped-def]
    """Start a create_vm, read the intents while the CPI works, let it finish; the create
    then fails (no IP to reach the VM at). Returns what was listed meanwhile."""
    request = VmRequest("stemcell-1", {}, {"default": {"type": "dynamic"}},
                        metadata={"deployment": "d", "name": "web/u-1"})

    async def scenario() -> list:
        creating = asyncio.create_task(create_vm(director, request, lambda _line: None))
        await asyncio.to_thread(wait_until, lambda: (state / "creating").exists(), 30, 0.02, "create_vm to start")
        during = listed(director)
        (state / "finish").write_text("")
        with pytest.raises(ValueError, match="no network with an IP"):
            await creating
        return during

    return asyncio.run(scenario())


def test_the_intent_is_there_while_the_cpi_works_and_gone_after_a_clean_undo(make_director, held_cpi):
    executable, config, state = held_cpi
    director = make_director(str(executable), config)
    during = create_and_fail(director, state)
    assert during == [(None, None, "web/u-1")], "a director dying now leaves this record"
    assert listed(director) == [], "the VM was deleted again: nothing to find"


def test_a_failed_undo_keeps_the_vm_with_its_cid_for_cck(make_director, held_cpi):
    executable, config, state = held_cpi
    (state / "fail-delete").write_text("")
    director = make_director(str(executable), config)
    create_and_fail(director, state)
    assert listed(director) == [("vm-held-1", None, "web/u-1")]
