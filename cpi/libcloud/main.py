"""``bosh-py-cpi-libcloud [CONFIG.json]``: BOSH's external CPI protocol over stdin/stdout,
driving an IaaS through Apache libcloud.

One JSON request on stdin, one JSON response on stdout (API version 2). The config path may
also come from $BOSH_PY_CPI_CONFIG. A CPI call always exits 0: its failure is reported in
the response's ``error`` so the director can act on its type. No credential from the config
ever reaches the response or stderr: every text leaving the process is redacted.
"""

from __future__ import annotations

import sys

# libcloud imports paramiko only for its SSH deployment helper (libcloud.compute.ssh), which
# no CPI method uses; refusing that import takes about 0.12 s off every call, which is a
# whole process (bench/cpi.py). It must happen before the first libcloud import.
sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]

from cpi import protocol  # noqa: E402
from cpi.libcloud.config import load_config  # noqa: E402
from cpi.libcloud.context import Context  # noqa: E402
from cpi.libcloud.methods import method_module  # noqa: E402

LIBCLOUD = protocol.Cpi(load_config, method_module, Context, lambda config: config.secrets())


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return protocol.serve_one_call(LIBCLOUD, args[0] if args else None)


if __name__ == "__main__":
    sys.exit(main())
