"""The long-lived parent of one VM: starts its namespaces and reaps them when they end.

The CPI is one short process per call, so a VM's PID 1 needs a parent that outlives the
call. ``vm_runtime.boot`` starts this module in its own session with no inherited pipes
(and records its PID); it starts ``nsenter ... unshare ... vm_init`` as its child (in the
VM's cgroups, if any) and waits. When the VM's PID 1 is killed (delete or reboot), unshare
returns and the keeper exits too.

One keeper lives as long as its VM, so it imports only the standard library modules it
uses (about 12 MB resident instead of 19 MB with the CPI's own modules).
"""

import json
import os
import signal
import subprocess
import sys


def vm_command(netns: str, vm_dir: str) -> list:
    return ["nsenter", f"--net=/run/netns/{netns}", "--",
            "unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts",
            "--propagation", "slave", "--",
            sys.executable, "-m", "cpi.local.vm_init", vm_dir]


def join_cgroups(groups: list) -> None:
    """Runs in the child before exec: the VM's processes inherit these groups."""
    for group in groups:
        with open(os.path.join(group, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))


def main(vm_dir: str) -> int:
    with open(os.path.join(vm_dir, "state.json")) as stream:
        state = json.load(stream)
    for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_IGN)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    with open(os.path.join(vm_dir, "console.log"), "ab", buffering=0) as console:
        child = subprocess.Popen(vm_command(state["netns"], vm_dir), stdin=subprocess.DEVNULL,
                                 stdout=console, stderr=console, env=env, cwd="/",
                                 preexec_fn=lambda: join_cgroups(state["cgroups"]))
        code = child.wait()
        console.write(f"bosh-py keeper: VM namespaces ended (status {code})\n".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
