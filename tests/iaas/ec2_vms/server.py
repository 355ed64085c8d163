"""``python -m tests.iaas.ec2_vms.server``: moto's EC2 behind ``moto_adapter`` behind
``VmBacking``, on 127.0.0.1 (a free port, printed on stdout), until killed.

Environment: MOTO_ADAPTER_ACCESS_KEY / MOTO_ADAPTER_SECRET_KEY (the one key pair EC2
accepts), EC2_VMS_LOCAL_CPI_CONFIG (the local CPI's config: root, bridge, prefix),
EC2_VMS_SUBNET (the VPC subnet, which is the local CPI's bridge subnet).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def serve() -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from tests.cpi_libcloud.moto_adapter import MotoEc2Adapter, quiet_request_handler
    from tests.iaas.ec2_vms.backing import VmBacking
    from tests.iaas.ec2_vms.local_cpi import LocalCpi

    adapter = MotoEc2Adapter(DomainDispatcherApplication(create_backend_app),
                             os.environ["MOTO_ADAPTER_ACCESS_KEY"], os.environ["MOTO_ADAPTER_SECRET_KEY"])
    app = VmBacking(adapter, LocalCpi(Path(os.environ["EC2_VMS_LOCAL_CPI_CONFIG"])),
                    os.environ["EC2_VMS_SUBNET"])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=quiet_request_handler())
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(serve())
