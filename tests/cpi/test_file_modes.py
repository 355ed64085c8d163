"""The CPI's directories are 0700 and its files 0600: nothing of a VM (its upper layer with
rendered job secrets, its console, its state) is readable by another host user, checked as
such a user would (setpriv to uid 65534, and to the VMs' own host uid)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cpi.support import ssh

pytestmark = pytest.mark.vm

ID_BASE = 1_000_000  # the CPI's default id_base: the host uid of every VM's root

# Trees whose modes are the guest's own (an OS image, a VM's files, a disk's files), each
# inside a 0700 directory of the CPI's; checked at their top only.
GUEST_TREES = {"rootfs", "upper", "work", "data", "lower", "disks"}

READ_AS_OTHER = """
import json, os, sys
result = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        result[path] = "read"
    except OSError as error:
        result[path] = "refused errno %d" % error.errno
print(json.dumps(result))
"""


def read_as(uid: int, paths: list[Path]) -> dict[str, str]:
    done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                           sys.executable, "-c", READ_AS_OTHER, *map(str, paths)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cpi_modes(root: Path) -> dict[str, str]:
    """Mode of every directory and file the CPI itself made under ``root``."""
    modes = {}
    for directory, names, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            modes[str(path.relative_to(root))] = oct(stat.S_IMODE(path.lstat().st_mode))
        for name in list(names):
            path = Path(directory, name)
            if name in GUEST_TREES:
                names.remove(name)  # the guest's own modes below
                continue
            modes[str(path.relative_to(root)) + "/"] = oct(stat.S_IMODE(path.lstat().st_mode))
    return modes


def test_cpi_directories_are_0700_and_files_0600(cpi, make_vm, client_key):
    disk = cpi.ok("create_disk", 10, {}, None)
    vm = make_vm(disk_cids=[disk])
    cpi.ok("set_vm_metadata", vm.cid, {"deployment": "d"})
    ssh(vm, client_key, "mkdir -p /var/vcap/jobs/x/config && echo secret > /var/vcap/jobs/x/config/x.json && "
                        "chmod 644 /var/vcap/jobs/x/config/x.json && "
                        f"echo kept > /var/vcap/bosh/disks/{disk}/f")

    assert oct(stat.S_IMODE(cpi.root.stat().st_mode)) == "0o700"
    modes = cpi_modes(cpi.root)
    assert f"vms/{vm.cid}/console.log" in modes and f"vms/{vm.cid}/state.json" in modes
    wrong = {path: mode for path, mode in modes.items()
             if mode != ("0o700" if path.endswith("/") else "0o600")}
    assert wrong == {}, wrong

    vm_dir = cpi.root / "vms" / vm.cid
    secrets = [cpi.root, cpi.root / "vms", vm_dir, vm_dir / "state.json", vm_dir / "console.log",
               vm_dir / "upper/var/vcap/jobs/x/config/x.json", vm_dir / "upper/etc/hostname",
               cpi.root / "disks" / disk / "data" / "f", next((cpi.root / "stemcells").iterdir()) / "rootfs/etc"]
    assert (vm_dir / "upper/var/vcap/jobs/x/config/x.json").read_text() == "secret\n"  # it is there
    for uid in (65534, ID_BASE):
        result = read_as(uid, secrets)
        assert all(outcome == "refused errno 13" for outcome in result.values()), (uid, result)
