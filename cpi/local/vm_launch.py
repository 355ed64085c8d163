"""The keeper's child: makes the VM's namespaces, then forks the VM's PID 1.

The order is what makes a VM's root powerless on the host:

1. join the VM's cgroups (everything below inherits them);
2. as host root, in a private mount namespace, assemble the VM's root (``vm_root``);
3. a new user namespace; the keeper (host root) writes its uid/gid maps (``ids``); this
   process becomes its root: host uid ``id_base``, an unprivileged user on the host;
4. new mount, UTS, IPC, network, PID and cgroup namespaces, all owned by that user
   namespace, so the VM's root has capabilities over them and over nothing of the host's
   (the cgroup namespace is rooted at the VM's own groups: /proc/self/cgroup and
   mountinfo show paths below them, not the host's layout); the keeper
   names the network namespace (``ip netns attach``) and wires the VM's veth into it;
5. fork PID 1 (``vm_init``), report its host PID, wait for it and exit with its status.

The keeper and this process talk over a socket pair, one line per step (``Channel``).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from cpi.local import syscalls, vm_init, vm_root
from cpi.local.ids import IdRange
from cpi.local.state import VmState

VM_NAMESPACES = (syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC
                 | syscalls.CLONE_NEWNET | syscalls.CLONE_NEWPID | syscalls.CLONE_NEWCGROUP)


class Channel:
    """Lines over a socket pair; an early end of the other side is an error naming the step."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("r")

    def send(self, word: str, value: str = "") -> None:
        self.sock.sendall(f"{word} {value}\n".encode())

    def expect(self, word: str) -> str:
        line = self.reader.readline()
        got, _, value = line.strip().partition(" ")
        if got != word:
            raise OSError(f"expected {word!r} from the other side of the VM's boot, got {line.strip()!r}")
        return value


def launch(state: VmState, vm_dir: Path, ids: IdRange, channel: Channel, guest_source: str) -> int:
    """Steps 1-5 above; returns the exit status for the keeper's child to exit with."""
    for group in state.cgroups:
        Path(group, "cgroup.procs").write_text(str(os.getpid()))
    os.chdir(vm_root.assemble(state, vm_dir, ids))  # the VM's PID 1 starts from there
    syscalls.unshare(syscalls.CLONE_NEWUSER)
    channel.send("userns")
    channel.expect("mapped")
    os.setresgid(0, 0, 0)
    os.setgroups([])
    os.setresuid(0, 0, 0)
    # Armed after the last change of credentials, which clears it. Before, a keeper that
    # dies ends the handshake, and this process with it.
    syscalls.die_with_parent(signal.SIGKILL)
    syscalls.unshare(VM_NAMESPACES)
    channel.send("namespaces")
    channel.expect("wired")
    pid = os.fork()
    if pid == 0:
        try:
            vm_init.main(state, guest_source)
        except BaseException as error:  # reported on the console the CPI shows on failure
            print(f"bosh-py vm_init: boot failed: {error!r}", flush=True)
        os._exit(1)
    channel.send("init", str(pid))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue
