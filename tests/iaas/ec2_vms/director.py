"""A real director whose one CPI is ``bosh-py-cpi-libcloud`` on the harness's EC2.

``tests.harness.LocalDirector`` starts the director on the local CPI and its ``stop``
runs the local CPI's cleanup with the director's CPI config; here that config is the
libcloud CPI's, so start and stop are this class's own (the harness removes the VMs).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tests.harness import BIN, TEST_GATEWAY, LocalDirector, free_port

LIBCLOUD_CPI = BIN / "bosh-py-cpi-libcloud"


class Ec2Director(LocalDirector):
    def start_with(self, cpi_config: dict[str, Any], health_monitor: dict | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if health_monitor:  # `director start` keeps what director.json already says
            (self.data_dir / "director.json").write_text(json.dumps(
                {"data_dir": str(self.data_dir), "health_monitor": health_monitor}))
        fd = os.open(self.cpi_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # IaaS credentials
        with os.fdopen(fd, "w") as out:
            json.dump(cpi_config, out)
        self.env = {**os.environ, "BOSH_PY_CONFIG": str(self.root / "cli.json"),
                    "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        self.cli("director", "start", "--data-dir", str(self.data_dir), "--api-port", str(free_port()),
                 "--nats-port", str(free_port()), "--blobstore-port", str(free_port()),
                 "--agent-endpoint-host", TEST_GATEWAY, "--cpi", str(LIBCLOUD_CPI),
                 "--cpi-config", str(self.cpi_config))

    def stop(self) -> None:
        try:
            self.cli("director", "stop", "--data-dir", str(self.data_dir), check=False, timeout=60)
        finally:
            log = self.data_dir / "director.log"
            if log.exists():  # kept for the post-mortem of a failed run
                shutil.copy(log, Path(tempfile.gettempdir()) / f"bosh-py-test-director-{self.root.name}.log")
            shutil.rmtree(self.root, ignore_errors=True)
