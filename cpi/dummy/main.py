"""``bosh-py-cpi-dummy``: BOSH's external CPI protocol over stdin/stdout, plus maintenance.

    bosh-py-cpi-dummy CONFIG              one JSON request on stdin, one response on stdout
    bosh-py-cpi-dummy list CONFIG         the VMs (agent pid, alive) and disks, as JSON
    bosh-py-cpi-dummy cleanup CONFIG      kill every VM's processes, remove VMs and disks

The config path may also come from $BOSH_PY_CPI_CONFIG.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from cpi import protocol
from cpi.dummy import agents
from cpi.dummy.config import load_config
from cpi.dummy.context import Context
from cpi.dummy.methods import method_module
from cpi.dummy.store import locked_state

DUMMY = protocol.Cpi(load_config, method_module, lambda config, log, request: Context(config, log, request))


def _inventory(config_path: str) -> int:
    config = load_config(config_path)
    with locked_state(config) as state:
        vms = {cid: {"agent_id": r["agent_id"], "pid": r.get("pid"), "alive": agents.alive(r),
                     "disks": r.get("disks") or []} for cid, r in state["vms"].items()}
        print(json.dumps({"vms": vms, "disks": state["disks"], "stemcells": sorted(state["stemcells"])}, indent=1))
    return 0


def cleanup(config_path: str) -> list[str]:
    """Kill every VM's processes and remove every VM and disk; problems, if any."""
    config = load_config(config_path)
    problems = []
    with locked_state(config) as state:
        known = set(state["vms"])
        on_disk = {p.name for p in config.vms.iterdir()} if config.vms.exists() else set()
        for cid in sorted(known | on_disk):
            vm_dir = config.vm_dir(cid)
            agents.stop_vm_processes(state["vms"].get(cid, {}), vm_dir)
            if agents.vm_processes(state["vms"].get(cid, {}), vm_dir):
                problems.append(f"VM {cid}: processes still running")
            shutil.rmtree(vm_dir, ignore_errors=True)
        state["vms"].clear()
        shutil.rmtree(config.disks, ignore_errors=True)
        config.disks.mkdir(mode=0o700)
        state["disks"].clear()
    return problems


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args and args[0] in ("list", "cleanup"):
        path = args[1] if len(args) > 1 else os.environ.get("BOSH_PY_CPI_CONFIG")
        try:
            if args[0] == "list":
                return _inventory(path or "")
            problems = cleanup(path or "")
        except protocol.CpiFailure as error:
            print(error, file=sys.stderr)
            return 1
        for problem in problems:
            print(f"cleanup: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return protocol.serve_one_call(DUMMY, args[0] if args else os.environ.get("BOSH_PY_CPI_CONFIG"))


if __name__ == "__main__":
    sys.exit(main())
