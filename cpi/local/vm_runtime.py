"""Power a VM on and off, and remove every host object made for it.

Power-on starts a keeper (see ``keeper``) and waits until sshd accepts TCP connections on
the VM's IP. Power-off SIGKILLs the VM's PID 1, which ends every process in its PID
namespace at once, and waits for the keeper to reap it. ``teardown`` is the one undo used by
a failed create_vm, delete_vm and cleanup alike, so they cannot drift apart.
"""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path

from cpi.local import cgroups, mounts, network, ownership
from cpi.local.config import Config
from cpi.local.errors import CloudError
from cpi.local.keeper import detach
from cpi.local.processes import ProcessRef
from cpi.local.state import DiskState, VmState

PID_FILES = ("init.pid", "keeper.pid")


def prepare_host_objects(state: VmState, config: Config) -> None:
    """Make what a boot needs on the host (bridge, cgroups, disk mounts, files owned by the
    VM's id range); after a host reboot this re-makes what the reboot lost."""
    network.ensure_bridge(config.bridge, state.gateway, state.prefixlen)
    if state.cgroups:  # gone after a host reboot; the keeper must be able to join them
        cgroups.create(config.cgroup_root, f"{config.prefix}-{state.cid}", state.cloud_properties)
        if state.delegated_cgroups:
            cgroups.delegate(state.cgroups, config.ids)
    ownership.stemcell(config, state.stemcell_cid)
    ownership.vm(config, state)
    vm_dir = state.dir(config)
    mounts.make_disks_dir(vm_dir / "disks", config.ids)
    for disk_cid in state.disks:
        disk = DiskState.find(config, disk_cid)
        if disk is not None:
            ownership.disk(config, disk)
        mounts.bind(config.disks / disk_cid / "data", vm_dir / "disks" / disk_cid)


def boot(state: VmState, config: Config) -> None:
    """Start the VM's keeper detached from this (short-lived) CPI process.

    The keeper is a fork of this process, not a new interpreter: a fresh python running
    ``-m cpi.local.keeper`` spent 0.1-0.15 CPU-seconds per VM starting up and importing what
    this process has already imported (measured; the cost of a fork is a few milliseconds).
    The previous boot's network namespace (kept by its name) and veth go first: the keeper
    wires the new boot's own namespace under the same names.
    """
    vm_dir = state.dir(config)
    for name in PID_FILES:
        (vm_dir / name).unlink(missing_ok=True)
    network.delete_vm_link(state.netns, state.veth, state.ip, config.bridge)
    ref = ProcessRef.of(detach(vm_dir, config.bridge))
    if ref is not None:  # recorded now, so a power-off racing the keeper's start finds it
        ref.write(vm_dir / "keeper.pid")


def wait_for_ssh(state: VmState, config: Config, timeout: float) -> None:
    """Return once sshd accepts a TCP connection on the VM's IP; CloudError otherwise."""
    vm_dir = state.dir(config)
    keeper = ProcessRef.read(vm_dir / "keeper.pid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((state.ip, 22), timeout=0.5):
                return
        except OSError:
            pass
        if keeper is None or not keeper.alive():
            raise CloudError(f"VM {state.cid} stopped while booting:\n{console_tail(vm_dir)}")
        time.sleep(0.02)
    raise CloudError(f"VM {state.cid}: sshd did not accept connections on {state.ip}:22 "
                     f"within {timeout:g}s:\n{console_tail(vm_dir)}")


def power_off(state: VmState, config: Config) -> None:
    """Kill the VM's processes (recorded PIDs only) and wait until they are reaped."""
    vm_dir = state.dir(config)
    refs = {name: ProcessRef.read(vm_dir / name) for name in PID_FILES}
    init, keeper = refs["init.pid"], refs["keeper.pid"]
    if init is not None and init.alive():
        init.kill(signal.SIGKILL)  # ends every process in the VM's PID namespace
        init.wait_gone(5)
    if keeper is not None and keeper.alive() and not (init is not None and keeper.wait_gone(3)):
        # Still booting (no PID 1 recorded yet) or stuck: the keeper leads its own process
        # group, which holds nsenter/unshare and the VM's PID 1.
        keeper.kill_group(signal.SIGKILL)
        keeper.wait_group_gone(5)  # its ip children too, before teardown looks for what they made
    for ref in refs.values():
        if ref is not None:
            ref.wait_gone(5)
    still = [f"{name} {ref.pid}" for name, ref in refs.items() if ref and ref.alive()]
    if still:
        raise CloudError(f"VM {state.cid}: processes did not stop: {', '.join(still)}")


def teardown(state: VmState, config: Config) -> None:
    """Remove the VM: processes, mounts, netns, veth, neighbour entry, cgroups, its files.

    Persistent disks are only unmounted, never deleted: the VM directory is removed only
    once nothing is mounted below it any more.
    """
    vm_dir = state.dir(config)
    power_off(state, config)
    mounts.unmount_all_under(vm_dir)
    network.delete_vm_link(state.netns, state.veth, state.ip, config.bridge)
    cgroups.remove(state.cgroups)
    if mounts.mountpoints_under(vm_dir):
        raise CloudError(f"VM {state.cid}: refusing to remove {vm_dir} while mounts remain")
    shutil.rmtree(vm_dir, ignore_errors=True)


def console_tail(vm_dir: Path, limit: int = 3000) -> str:
    try:
        return (vm_dir / "console.log").read_text(errors="replace")[-limit:]
    except OSError:
        return "(no console output)"
