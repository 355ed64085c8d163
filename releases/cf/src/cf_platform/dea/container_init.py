"""The inside of a container: run as ``python3 container_init.py <spec.json>`` by the DEA.

Standard library only and importing nothing from the package, because it runs before and
after the mount namespace changes. Two processes:

- the *keeper* (host PID namespace, the DEA's child): dies with the DEA (PDEATHSIG),
  makes a new PID namespace for its next child, forks it, moves it into the container's
  cgroups, then lets it go; it forwards SIGTERM and exits with the container's status.
- the container's *init* (PID 1 of the new PID namespace, dies with the keeper): new
  mount, IPC and UTS namespaces; private mounts: /proc for its PID namespace, tmpfs on
  /tmp, /var/tmp and /dev/shm, the app directory bound at /home/vcap/app, the DEA's data
  directory hidden, the root made read-only; then it forks the app as an unprivileged uid
  (no new privileges, RLIMIT_NOFILE from limits.fds) in its own session, forwards SIGTERM
  to it, reaps orphans, and exits with the app's status: 128+N when a signal N ended it.
  When PID 1 exits the kernel kills everything left in the namespace.

Exit status 125 means the container could not be set up (the reason is on stderr, which
the DEA points at the instance's logs/container.log).
"""

import ctypes
import json
import os
import resource
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
HOME = "/home/vcap/app"
SETUP_FAILED = 125

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(None if source is None else source.encode(), target.encode(),
                     None if fstype is None else fstype.encode(), ctypes.c_ulong(flags),
                     None if data is None else data.encode()), f"mount {target}")


def die_with_parent():
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def keeper(spec):
    die_with_parent()
    if os.getppid() != spec["dea_pid"]:  # the DEA died before PDEATHSIG was armed
        os._exit(SETUP_FAILED)
    check(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(go_write)
        try:
            init(spec, go_read)
        except BaseException as error:  # noqa: BLE001 - reported, then the container fails
            print(f"container init: {error}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    os.close(go_read)
    try:
        for group in spec["cgroups"]:
            with open(os.path.join(group, "cgroup.procs"), "w") as procs:
                procs.write(str(child))
    except OSError as error:
        print(f"container keeper: cannot join cgroups: {error}", file=sys.stderr, flush=True)
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os._exit(SETUP_FAILED)
    os.write(go_write, b"1")
    os.close(go_write)

    def forward(signum, _frame):
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(exit_code(status))


def build_mounts(spec):
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    if not os.path.isdir("/home"):
        os.makedirs("/home", 0o755)
    mount("tmpfs", "/home", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    os.makedirs(HOME, 0o755)
    os.chown(os.path.dirname(HOME), spec["uid"], spec["gid"])
    mount(spec["app_dir"], HOME, None, MS_BIND)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = f"size={int(spec.get('tmp_mb', 64))}m"
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")
    for path in ("/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")
    for path in spec.get("hide", []):  # the DEA's droplets and other instances
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=755,size=4k")
    try:  # bind-remount: changes only this namespace's view of /, never the filesystem
        mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    except OSError as error:
        print(f"container init: root stays writable for root only ({error})", file=sys.stderr, flush=True)


def start_app(spec, stdout, stderr):
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        os.setsid()
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        for fd in (null, stdout, stderr):
            if fd > 2:
                os.close(fd)
        fds = int(spec.get("fds", 16384))
        resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds))
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        os.chdir(HOME)
        os.execve("/bin/sh", ["/bin/sh", "-c", spec["command"]], spec["env"])
    except BaseException as error:  # noqa: BLE001
        os.write(2, f"container init: cannot start the app: {error}\n".encode())
    os._exit(127)


def init(spec, go_read):
    die_with_parent()
    if os.read(go_read, 1) != b"1":  # the keeper died before letting us go
        os._exit(SETUP_FAILED)
    os.close(go_read)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    stdout = os.open(spec["stdout"], flags, 0o640)
    stderr = os.open(spec["stderr"], flags, 0o640)
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare(mount, ipc, uts)")
    socket.sethostname(spec["hostname"])
    build_mounts(spec)
    os.chdir("/")
    app = start_app(spec, stdout, stderr)  # close-on-exec: the app gets only the dup2 copies
    os.close(stdout)
    os.close(stderr)

    def forward(signum, _frame):
        try:
            os.killpg(app, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:  # PID 1: reap every orphan until the app itself is gone
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        if pid == app:
            os._exit(exit_code(status))


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        keeper(json.load(spec_file))
