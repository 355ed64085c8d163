"""The real local CPI executable, called the way the director calls it: one process per
call, JSON on stdin, the response on stdout. The harness backs EC2 objects with it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_CPI = Path(sys.executable).parent / "bosh-py-cpi-local"


class LocalCpiError(Exception):
    """The local CPI answered an error; ``type`` is the CPI error type (VMNotFound …)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"local CPI {method}: {error.get('type')}: {error.get('message')}")
        self.type = str(error.get("type"))


@dataclass(frozen=True)
class LocalCpi:
    config_path: Path

    def call(self, method: str, *arguments: Any, timeout: float = 300) -> Any:
        request = {"method": method, "arguments": list(arguments), "api_version": 2,
                   "context": {"director_uuid": "ec2-vms-harness"}}
        done = subprocess.run([str(LOCAL_CPI), str(self.config_path)], input=json.dumps(request),
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise LocalCpiError(method, {"type": "exit", "message": done.stderr[-2000:]})
        response = json.loads(done.stdout)
        if response.get("error"):
            raise LocalCpiError(method, response["error"])
        return response.get("result")

    def vm_dir(self, vm_cid: str) -> Path:
        """``root/vms/<cid>`` (cpi/local/README.md, "How a VM is made")."""
        root = json.loads(self.config_path.read_text())["root"]
        return Path(root) / "vms" / vm_cid

    def cleanup(self) -> str:
        """``bosh-py-cpi-local cleanup --purge``: every VM, disk, stemcell, mount, netns,
        veth and cgroup this CPI made, and its bridge; returns what it could not remove."""
        done = subprocess.run([str(LOCAL_CPI), "cleanup", "--purge", str(self.config_path)],
                              capture_output=True, text=True, timeout=300, check=False)
        return "" if done.returncode == 0 else done.stderr
