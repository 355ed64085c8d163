"""``bosh-py-cpi-local``: BOSH's external CPI protocol over stdin/stdout, plus two
maintenance commands.

    bosh-py-cpi-local [CONFIG.json]             one JSON request on stdin, one response on stdout
    bosh-py-cpi-local list [--json] [CONFIG]    VMs and leftovers of this CPI
    bosh-py-cpi-local cleanup [--purge] [CONFIG] remove them all (--purge: disks, stemcells too)

The config path may also come from $BOSH_PY_CPI_CONFIG. A CPI call always exits 0: its
failure is reported in the response's ``error`` so the director can act on its type.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from cpi import protocol
from cpi.local.config import load_config
from cpi.local.context import Context
from cpi.local.errors import CpiFailure
from cpi.local.methods import method_module

LOCAL = protocol.Cpi(load_config, method_module, Context)


def _maintenance(command: str, args: list[str]) -> int:
    from cpi.local import leftovers

    flags = {a for a in args if a.startswith("--")}
    paths = [a for a in args if not a.startswith("--")]
    try:
        config = load_config(paths[0] if paths else None)
    except CpiFailure as error:
        print(error, file=sys.stderr)
        return 1
    if command == "list":
        found = leftovers.inventory(config)
        print(json.dumps(asdict(found), indent=1) if "--json" in flags
              else leftovers.format_inventory(found))
        return 0
    problems = leftovers.cleanup(config, purge="--purge" in flags)
    for problem in problems:
        print(f"cleanup: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("list", "cleanup"):
        return _maintenance(args[0], args[1:])
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return protocol.serve_one_call(LOCAL, args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
