"""The long-lived parent of one VM: starts its namespaces, wires its network, reaps it.

The CPI is one short process per call, so a VM's PID 1 needs a parent that outlives the
call. ``vm_runtime.boot`` forks it off the CPI process (``detach``) into its own session
with no inherited descriptors (and records its PID). The keeper forks a child that makes the
VM's namespaces (``vm_launch``) and does, as host root, the two things the VM's root may not:
write the VM's user namespace's uid/gid maps, and move the VM's veth end into its network
namespace (named ``<prefix>-vm-…`` with ``ip netns attach``, so the CPI and ``ip -n`` find
it). It records the VM's PID 1 in ``init.pid`` and waits. When PID 1 is killed (delete or
reboot) the child returns and the keeper exits too. Each boot makes a new network
namespace; the CPI deletes the previous one's name before it boots.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import traceback
from pathlib import Path

from cpi.local import guest_init, ids, network, syscalls, vm_launch
from cpi.local.processes import ProcessRef
from cpi.local.state import VmState


def boot_child(state: VmState, vm_dir: Path, sock: socket.socket, guest_source: str) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        code = vm_launch.launch(state, vm_dir, ids.IdRange(state.id_base), vm_launch.Channel(sock),
                                guest_source)
    except BaseException:  # reported on the console the CPI shows on failure
        print(f"bosh-py keeper: VM boot failed:\n{traceback.format_exc()}", flush=True)
    os._exit(128 - code if code < 0 else code)


def wire(state: VmState, bridge: str, channel: vm_launch.Channel, child: int) -> int:
    """The host's part of the handshake with ``vm_launch``; returns the VM's PID 1."""
    channel.expect("userns")
    ids.write_maps(child, ids.IdRange(state.id_base))
    channel.send("mapped")
    channel.expect("namespaces")
    net = network.VmNetwork("default", state.ip, state.prefixlen, state.gateway)
    network.wire_vm_link(state.netns, state.veth, net, bridge, child)
    channel.send("wired")
    return int(channel.expect("init"))


def main(vm_dir_arg: str, bridge: str) -> int:
    vm_dir = Path(vm_dir_arg)
    state = VmState.load(vm_dir)
    guest_source = Path(guest_init.__file__).read_text()  # the VM's root could not read it
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)
    console_fd = os.open(vm_dir / "console.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    ours, theirs = socket.socketpair()
    child = os.fork()
    if child == 0:
        ours.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(console_fd, 1)
        os.dup2(console_fd, 2)
        for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        boot_child(state, vm_dir, theirs, guest_source)
    theirs.close()
    with os.fdopen(console_fd, "ab", buffering=0) as console:
        try:
            init_pid = wire(state, bridge, vm_launch.Channel(ours), child)
            ref = ProcessRef.of(init_pid)
            if ref is not None:
                ref.write(vm_dir / "init.pid")
        except Exception as error:
            console.write(f"bosh-py keeper: cannot boot the VM: {error}\n".encode())
            os.kill(child, signal.SIGKILL)
        ours.close()
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        console.write(f"bosh-py keeper: VM namespaces ended (status {os.waitstatus_to_exitcode(status)})\n"
                      .encode())
    return 0


KEEPER_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def scrub_initial_environment() -> None:
    """Zero the environment block this process was exec'd with (what /proc/<pid>/environ
    shows): a forked keeper would otherwise show, for the VM's whole life, the environment
    the director gave one CPI call. Nothing points into it any more: ``os.environ`` was
    emptied first, and libc's environment now holds only the keeper's own variables."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50 and 51)
    if 0 < start < end:
        try:
            with open("/proc/self/mem", "r+b", buffering=0) as memory:
                memory.seek(start)
                memory.write(b"\0" * (end - start))
        except OSError:
            pass  # a kernel that refuses: /proc/<pid>/environ stays readable by host root only


def detach(vm_dir: Path, bridge: str) -> int:
    """Fork the keeper of the VM at ``vm_dir``; return its PID.

    The child leads a new session, holds no descriptor of the CPI call (the director reads
    the call's stdout until EOF) and only the environment ``ip`` needs (nothing the
    director handed the CPI), and ends with ``os._exit``: it never returns into the CPI's
    code, which would answer the call a second time."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # nothing buffered before the fork is written twice
    led, leads = os.pipe()
    pid = os.fork()
    if pid:
        os.close(leads)
        os.read(led, 1)  # returns once the keeper leads its group: power_off kills that group
        os.close(led)
        return pid
    code = 1
    try:
        os.setsid()
        os.close(leads)  # (end of file for the CPI: the keeper leads its session and group)
        os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.environ.clear()
        os.environ.update(KEEPER_ENV)
        scrub_initial_environment()
        syscalls.set_name(b"bosh-py-keeper")
        code = main(str(vm_dir), bridge)
    finally:
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
