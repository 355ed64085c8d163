"""PID 1 inside a local VM, run by the stemcell's own python3 (standard library only).

It starts sshd (absolute path, in the foreground so it stays our child and is restarted
if it dies), then ``/etc/rc.local`` if present and executable (the director writes the
agent's start there, so the agent comes back after reboot_vm), and reaps every orphan.
It is copied to /run (a tmpfs) at each boot, so the VM's image is not changed by it.
"""

import os
import signal
import sys
import time

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}


def spawn(argv, log_path=None):
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if log_path:
                fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
            os.chdir("/")
            os.execve(argv[0], argv, ENV)
        finally:
            os._exit(127)
    return pid


def start_sshd():
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    return spawn(["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"])


def shutdown(_signum, _frame):
    """A polite power-off: TERM everyone, give them a moment, then leave (kills the rest)."""
    try:
        os.kill(-1, signal.SIGTERM)
    except OSError:
        pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        except ChildProcessError:
            break
    sys.exit(0)


def main():
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    sshd = start_sshd()
    print(f"bosh-py init: sshd started (pid {sshd})", flush=True)
    if os.path.isfile("/etc/rc.local") and os.access("/etc/rc.local", os.X_OK):
        os.makedirs("/var/log", exist_ok=True)
        spawn(["/etc/rc.local"], "/var/log/rc.local.log")
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            time.sleep(1)
            continue
        except InterruptedError:
            continue
        if pid == sshd:
            print(f"bosh-py init: sshd exited ({status}), restarting", flush=True)
            time.sleep(1)
            sshd = start_sshd()


if __name__ == "__main__":
    main()
