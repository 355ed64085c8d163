"""Start one bpm process in its own container and keep a small init as its PID 1.

    bpm CLI ── fork ──> A: new session, joins the cgroups, unshare(mount, pid, ipc, uts)
                        └─ fork ──> B: PID 1 of the new PID namespace: builds the root,
                                   pivot_root, then forks C and stays as init (forwards
                                   signals to C, reaps orphans, exits with C's status;
                                   the kernel then kills whatever is left in the namespace)
                                   └─ fork ──> C: rlimits, capabilities, vcap, no new
                                              privileges, the pre_start hook, exec.

A reports B's PID as the VM sees it; B reports "ok" once C's exec succeeded, or the error
that stopped it, so ``bpm start`` fails with the reason instead of leaving a dead pidfile.
B holds no job code: it is the bpm CLI's own Python, forked, with every module it needs
already imported (the agent bundle is not visible inside the container).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import traceback
from dataclasses import dataclass
from pathlib import Path

from bosh_py.agent.bpm import rootfs
from bosh_py.agent.bpm import syscalls as sc
from bosh_py.agent.bpm.capabilities import CAPABILITIES, LAST_CAP
from bosh_py.agent.bpm.cgroups import CgroupSetup, join
from bosh_py.agent.bpm.config import BpmProcess
from bosh_py.agent.bpm.errors import BpmError
from bosh_py.agent.bpm.layout import Plan

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)


@dataclass(frozen=True)
class Launch:
    process: BpmProcess
    plan: Plan
    root: Path            # an empty VM directory the container's tmpfs root is mounted on
    stdout: Path
    stderr: Path
    uid: int
    gid: int
    cgroups: CgroupSetup


def start(launch: Launch) -> int:
    """Start the container; return its init's PID (as the VM sees it)."""
    status_r, status_w = os.pipe()
    out = os.open(launch.stdout, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    err = os.open(launch.stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    pid = os.fork()
    if pid == 0:  # A
        code = 1
        try:
            os.close(status_r)
            _detach(out, err)
            _close_fds_except(status_w)  # the CLI's lock above all: the init must not hold it
            join(launch.cgroups.groups)
            sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWPID | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS)
            init = os.fork()
            if init == 0:
                _init(launch, status_w)  # never returns
            os.write(status_w, f"pid {init}\n".encode())
            code = 0
        except BaseException as e:  # noqa: BLE001 - a forked child: report, never unwind into the CLI
            _report(status_w, f"error {e}")
        finally:
            os._exit(code)
    os.close(status_w)
    os.close(out)
    os.close(err)
    os.waitpid(pid, 0)
    with os.fdopen(status_r, "rb") as status:
        lines = status.read().decode(errors="replace").splitlines()
    init_pid = next((int(line.split()[1]) for line in lines if line.startswith("pid ")), None)
    errors = [line.removeprefix("error ") for line in lines if line.startswith("error ")]
    if errors or "ok" not in lines or init_pid is None:
        reason = "; ".join(errors) or "the container exited while starting"
        raise BpmError(f"{launch.process.key}: could not start: {reason}")
    return init_pid


def _report(fd: int, message: str) -> None:
    try:
        os.write(fd, (message.replace("\n", " ") + "\n").encode())
    except OSError:
        pass


def _detach(out: int, err: int) -> None:
    os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (null, out, err):
        os.close(fd)


def _close_fds_except(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def _init(launch: Launch, status_w: int) -> None:
    """B: the container's PID 1."""
    try:
        socket.sethostname(launch.process.job)
        rootfs.build_root(launch.plan, launch.root)
        rootfs.enter_root(launch.root)
        exec_r, exec_w = os.pipe2(os.O_CLOEXEC)
        child = os.fork()
        if child == 0:
            os.close(exec_r)
            os.close(status_w)
            try:
                _become_job(launch)
                _run_pre_start(launch)
                _exec(launch)
            except BaseException as e:  # noqa: BLE001 - the reason goes back to `bpm start`
                detail = str(e) if isinstance(e, (OSError, BpmError)) else traceback.format_exc(limit=1)
                _report(exec_w, detail)
            os._exit(127)
        os.close(exec_w)
        with os.fdopen(exec_r, "rb") as exec_status:
            failure = exec_status.read().decode(errors="replace").strip()
        if failure:
            os.waitpid(child, 0)
            _report(status_w, f"error {failure}")
            os._exit(1)
        _report(status_w, "ok")
        os.close(status_w)
    except BaseException as e:  # noqa: BLE001 - the reason goes back to `bpm start`
        _report(status_w, f"error {e}")
        os._exit(1)
    os._exit(_reap(child))


def _reap(child: int) -> int:
    """Forward signals to the job, reap orphans; the job's exit status is the container's."""
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass
    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _become_job(launch: Launch) -> None:
    """C: limits, then vcap with only the listed capabilities and no way to gain more."""
    process = launch.process
    for signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # Python's choices, not the job's
        signal.signal(signum, signal.SIG_DFL)
    if process.limits.open_files is not None:
        n = process.limits.open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    if process.limits.processes is not None and not launch.cgroups.pids_enforced:
        n = process.limits.processes
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    if process.privileged:
        return
    keep = [CAPABILITIES[name] for name in process.capabilities]
    for capability in range(LAST_CAP + 1):  # needs CAP_SETPCAP effective, not bounding
        if capability not in keep:
            sc.drop_bounding(capability)
    if keep:
        sc.prctl(sc.PR_SET_KEEPCAPS, 1, "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setresgid(launch.gid, launch.gid, launch.gid)
    os.setresuid(launch.uid, launch.uid, launch.uid)
    sc.capset(keep)
    for capability in keep:
        sc.raise_ambient(capability)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def _run_pre_start(launch: Launch) -> None:
    hook = launch.process.pre_start
    if hook is None:
        return
    os.chdir(launch.plan.workdir)
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(hook, [hook], dict(launch.plan.env))
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise BpmError(f"hooks.pre_start {hook} exited {code}")


def _exec(launch: Launch) -> None:
    process = launch.process
    os.chdir(launch.plan.workdir)
    os.execve(process.executable, [process.executable, *process.args], dict(launch.plan.env))
