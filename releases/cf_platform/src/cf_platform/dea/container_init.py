"""The inside of a container: run as ``python3 container_init.py <spec.json>`` by the DEA.

Standard library only and importing nothing from the package, because it runs before and
after the mount namespace changes. Two processes:

- the *keeper* (host PID and network namespaces, the DEA's child): dies with the DEA
  (PDEATHSIG), makes a new PID namespace for its next child, forks it, moves it into the
  container's cgroups, gives it its network (a veth pair: ``host_if`` stays here with the
  gateway address, ``eth0`` goes into the child's network namespace), then lets it go; it
  forwards SIGTERM and exits with the container's status.
- the container's *init* (PID 1 of the new PID namespace, dies with the keeper): new
  network, mount, IPC and UTS namespaces. It builds a new root on a tmpfs: the stack
  (``/usr``, read-only, with the merged-/usr links), a generated ``/etc`` (passwd and
  group with the app's user, hosts, a copy of resolv.conf and the loader cache, certs
  read-only), its own ``/proc``, a minimal ``/dev`` (bound null, zero, full, random,
  urandom, tty; no mknod), tmpfs ``/tmp``, and the spec's binds (the app at
  /home/vcap/app); then ``pivot_root`` and the old root is detached: nothing of
  /var/vcap, the DEA's state or other apps exists in the container. It then forks the
  command as an unprivileged uid (no capabilities, bounding set emptied, no new
  privileges, RLIMIT_NOFILE from ``fds``) in its own session, forwards SIGTERM to it,
  reaps orphans, and exits with the command's status: 128+N when a signal N ended it.
  When PID 1 exits the kernel kills everything left in the namespace.

Only operations that root of a user namespace owning these namespaces may do: bind
mounts, tmpfs, proc, pivot_root, unshare, veth. Exit status 125 means the container could
not be set up (the reason is on stderr, which the DEA points at the container's log).
"""

import ctypes
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
HOME = "/home/vcap/app"
SETUP_FAILED = 125
# The stack's top-level directories: links into /usr on merged-/usr systems, else bound.
STACK_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
ETC_COPIES = ("resolv.conf", "nsswitch.conf", "ld.so.cache", "host.conf", "gai.conf", "mime.types",
              "protocols", "services", "localtime")
ETC_BINDS = ("ssl", "ca-certificates", "alternatives", "python3", "python3.11")

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(None if source is None else source.encode(), target.encode(),
                     None if fstype is None else fstype.encode(), ctypes.c_ulong(flags),
                     None if data is None else data.encode()), f"mount {target}")


def bind(source, target, writable=False):
    """Bind ``source`` at ``target`` (a file or a directory), nosuid and nodev, read-only
    unless ``writable``."""
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    mount(None, target, None, flags)


def die_with_parent():
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def run(*argv):
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")


# --- the keeper ---------------------------------------------------------------------------

def keeper(spec):
    die_with_parent()
    if os.getppid() != spec["dea_pid"]:  # the DEA died before PDEATHSIG was armed
        os._exit(SETUP_FAILED)
    check(libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(go_write)
        os.close(ready_read)
        try:
            init(spec, ready_write, go_read)
        except BaseException as error:  # noqa: BLE001 - reported, then the container fails
            print(f"container init: {error}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    os.close(go_read)
    os.close(ready_write)
    try:
        if os.read(ready_read, 1) != b"1":
            raise OSError("the container's init died while making its namespaces")
        for group in spec["cgroups"]:
            with open(os.path.join(group, "cgroup.procs"), "w") as procs:
                procs.write(str(child))
        if spec.get("network"):
            host_side_network(spec["network"], child)
    except OSError as error:
        print(f"container keeper: {error}", file=sys.stderr, flush=True)
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


def host_side_network(network, child):
    """The veth pair: ``eth0`` in the child's network namespace, ``host_if`` here, up, with
    the gateway address. It goes away by itself when the container's namespace does."""
    host_if = network["host_if"]
    # By path, not PID: this ``ip`` runs in the new PID namespace, where the host PID means nothing.
    run("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", f"/proc/{child}/ns/net")
    run("ip", "addr", "add", f"{network['host_ip']}/{network['prefixlen']}", "dev", host_if)
    run("ip", "link", "set", host_if, "up")


# --- the container's init -----------------------------------------------------------------

def container_side_network(network):
    run("ip", "link", "set", "lo", "up")
    if network:
        run("ip", "addr", "add", f"{network['container_ip']}/{network['prefixlen']}", "dev", "eth0")
        run("ip", "link", "set", "eth0", "up")
        run("ip", "route", "add", "default", "via", network["host_ip"])


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def build_etc(root, spec):
    etc = os.path.join(root, "etc")
    os.mkdir(etc, 0o755)
    uid, gid = spec["uid"], spec["gid"]
    write(os.path.join(etc, "passwd"), "root:x:0:0:root:/root:/usr/sbin/nologin\n"
          f"vcap:x:{uid}:{gid}:vcap:/home/vcap:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    write(os.path.join(etc, "group"), f"root:x:0:\nvcap:x:{gid}:\nnogroup:x:65534:\n")
    write(os.path.join(etc, "hosts"), f"127.0.0.1 localhost\n::1 localhost\n127.0.1.1 {spec['hostname']}\n")
    write(os.path.join(etc, "hostname"), spec["hostname"] + "\n")
    for name in ETC_COPIES:  # copies, not binds: nothing the app does reaches the VM's /etc
        source = os.path.join("/etc", name)
        target = os.path.join(etc, name)
        if os.path.islink(source) and name == "localtime":
            os.symlink(os.readlink(source), target)
        elif os.path.isfile(source):
            with open(source, "rb") as src, open(target, "wb") as out:
                out.write(src.read())
            os.chmod(target, 0o644)
    for name in ETC_BINDS:
        source = os.path.join("/etc", name)
        if os.path.isdir(source) and not os.path.islink(source):
            os.mkdir(os.path.join(etc, name), 0o755)
            bind(source, os.path.join(etc, name))


def build_dev(root, size):
    dev = os.path.join(root, "dev")
    os.mkdir(dev, 0o755)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        source = os.path.join("/dev", name)
        if os.path.exists(source):
            target = os.path.join(dev, name)
            open(target, "w").close()
            mount(source, target, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "shm"))
    mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")


def build_root(spec):
    """The container's whole filesystem view, then pivot_root into it."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the VM
    root = spec["rootfs"]
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=4m")
    os.mkdir(os.path.join(root, "usr"), 0o755)
    bind("/usr", os.path.join(root, "usr"))
    for name in STACK_DIRS:
        source = "/" + name
        if os.path.islink(source):
            os.symlink(os.readlink(source), os.path.join(root, name))
        elif os.path.isdir(source):
            os.mkdir(os.path.join(root, name), 0o755)
            bind(source, os.path.join(root, name))
    build_etc(root, spec)
    os.mkdir(os.path.join(root, "proc"), 0o555)
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = f"size={int(spec.get('tmp_mb', 64))}m"
    build_dev(root, size)
    for path in ("tmp", "var", "var/tmp"):
        os.mkdir(os.path.join(root, path), 0o755)
    for path in ("tmp", "var/tmp"):
        mount("tmpfs", os.path.join(root, path), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,{size}")
    os.makedirs(os.path.join(root, "home", "vcap"), 0o755)
    os.chown(os.path.join(root, "home", "vcap"), spec["uid"], spec["gid"])
    for source, target, writable in spec["binds"]:
        inside = os.path.join(root, target.lstrip("/"))
        os.makedirs(inside, 0o755, exist_ok=True)
        bind(source, inside, writable)
    os.chdir(root)
    if SYS_PIVOT_ROOT is None:
        raise OSError(f"pivot_root: unknown syscall number on {platform.machine()}")
    check(libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount the old root")  # the old root was stacked on "."
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges(spec):
    os.setgroups([])
    for cap in range(64):  # empty the bounding set: no way back to any capability
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])  # from root to a uid: permitted and effective capabilities cleared
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def start_command(spec, stdout, stderr):
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
        drop_privileges(spec)
        os.chdir(spec.get("workdir") or HOME)
        argv = spec.get("argv") or ["/bin/sh", "-c", spec["command"]]
        os.execve(argv[0], argv, spec["env"])
    except BaseException as error:  # noqa: BLE001
        os.write(2, f"container init: cannot start the command: {error}\n".encode())
    os._exit(127)


def init(spec, ready_write, go_read):
    die_with_parent()
    check(libc.unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS),
          "unshare(net, mount, ipc, uts)")
    os.write(ready_write, b"1")
    os.close(ready_write)
    if os.read(go_read, 1) != b"1":  # the keeper died before letting us go
        os._exit(SETUP_FAILED)
    os.close(go_read)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    stdout = os.open(spec["stdout"], flags, 0o640)
    stderr = os.open(spec["stderr"], flags, 0o640)
    socket.sethostname(spec["hostname"])
    container_side_network(spec.get("network"))
    build_root(spec)
    command = start_command(spec, stdout, stderr)  # close-on-exec: it gets only the dup2 copies
    os.close(stdout)
    os.close(stderr)

    def forward(signum, _frame):
        try:
            os.killpg(command, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:  # PID 1: reap every orphan until the command itself is gone
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(SETUP_FAILED)
        if pid == command:
            os._exit(exit_code(status))


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        keeper(json.load(spec_file))
