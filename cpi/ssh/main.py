"""``bosh-py-cpi-ssh``: BOSH's external CPI protocol over stdin/stdout for machines the
operator already has (listed in the config with address and SSH credentials).

    bosh-py-cpi-ssh [CONFIG.json]      one JSON request on stdin, one response on stdout
    bosh-py-cpi-ssh list [CONFIG]      which machine holds which VM and disk (JSON)

The config path may also come from $BOSH_PY_CPI_CONFIG. A CPI call always exits 0: its
failure is reported in the response's ``error``. See cpi/ssh/README.md.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from cpi import protocol
from cpi.ssh.config import load_config, secrets_of
from cpi.ssh.context import Context
from cpi.ssh.methods import method_module
from cpi.ssh.state import read_state

SSH = protocol.Cpi(load_config, method_module, Context, secrets_of)


def _list(args: list[str]) -> int:
    try:
        config = load_config(args[0] if args else None)
    except protocol.CpiFailure as error:
        print(error, file=sys.stderr)
        return 1
    state = read_state(config.state_dir)
    holders = {vm.machine: cid for cid, vm in state.vms.items()}
    print(json.dumps({"machines": [{"name": m.name, "address": m.address, "vm": holders.get(m.name)}
                                   for m in config.machines],
                      "vms": {cid: asdict(vm) for cid, vm in state.vms.items()},
                      "disks": {cid: asdict(disk) for cid, disk in state.disks.items()}}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if args and args[0] == "list":
        return _list(args[1:])
    return protocol.serve_one_call(SSH, args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
