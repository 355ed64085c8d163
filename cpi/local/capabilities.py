"""Capabilities no VM keeps, even in its own user namespace.

A VM's root holds every capability, but only over namespaces its user namespace owns
(its mounts, network, processes, hostname, IPC). The kernel checks the capabilities below
against the host's user namespace, so they are useless in a VM already; dropping them from
the bounding set as well means no process in the VM (and nothing it execs, setuid or with
file capabilities) can ever hold them, should a kernel bug make one of them count.
What stays (SYS_ADMIN, NET_ADMIN, SETUID, CHOWN, ...) is what a DEA needs to make
containers: mounts, namespaces, veth pairs, nftables, cgroup moves, unprivileged users.
"""

from __future__ import annotations

from cpi.local import syscalls

DROPPED = {
    "CAP_LINUX_IMMUTABLE": 9, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_PACCT": 20,
    "CAP_SYS_BOOT": 22, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_AUDIT_CONTROL": 30, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38,
    "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}


def drop_from_bounding_set() -> None:
    """Run in the VM's PID 1 before it execs the guest (needs CAP_SETPCAP, which it has)."""
    for capability in DROPPED.values():
        syscalls.drop_bounding_capability(capability)
