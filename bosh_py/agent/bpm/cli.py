"""``bpm start|stop|pid|list``: bpm's command line, as a job's monit file calls it.

    check process kv
      with pidfile /var/vcap/sys/run/bpm/kv/kv.pid
      start program "/var/vcap/jobs/bpm/bin/bpm start kv"
      stop program "/var/vcap/jobs/bpm/bin/bpm stop kv"

``start`` returns once the process runs in its container (its init's PID in the pidfile
monit checks); ``stop`` sends SIGTERM, waits ``STOP_TIMEOUT`` seconds, then SIGKILL, and
removes the pidfile. One lock per job process serialises them (monit's restart does not
wait for stop). Exit 0 on success, 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bosh_py.agent.bpm import cgroups, container
from bosh_py.agent.bpm.config import (
    CONFIG_PATH,
    NAME,
    BpmProcess,
    find_process,
    parse_bpm_config,
)
from bosh_py.agent.bpm.errors import BpmError
from bosh_py.agent.bpm.layout import pid_dir, plan_container
from bosh_py.agent.bpm.users import ensure_vcap, share_with_group
from bosh_py.agent.procfs import pid_alive

STOP_TIMEOUT = 20.0
JOBS = Path("/var/vcap/jobs")
BPM_DATA = Path("/var/vcap/data/bpm")


def load_process(job: str, name: str | None) -> BpmProcess:
    if not NAME.match(job):
        raise BpmError(f"invalid job name {job!r}")
    path = JOBS / job / CONFIG_PATH
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BpmError(f"job '{job}': {path} not found (is the job deployed on this VM, with a "
                       "config/bpm.yml template?)") from None
    return find_process(parse_bpm_config(job, text), job, name or job)


def pid_file(process: BpmProcess) -> Path:
    return Path(pid_dir(process.job)) / f"{process.name}.pid"


def running_pid(process: BpmProcess) -> int | None:
    """The container init's PID if the pidfile names a live process in another PID namespace."""
    try:
        pid = int(pid_file(process).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    try:
        if os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid"):
            return None  # a recycled PID of an ordinary process: never ours to signal
    except OSError:
        return None
    return pid


@contextmanager
def locked(process: BpmProcess) -> Iterator[None]:
    directory = Path(pid_dir(process.job))
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    with open(directory / f"{process.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start(process: BpmProcess) -> int:
    with locked(process):
        pid = running_pid(process)
        if pid is not None:
            print(f"{process.key} is already running (pid {pid})")
            return pid
        uid, gid = ensure_vcap(BPM_DATA)
        job_dir = os.path.realpath(JOBS / process.job)
        share_with_group(Path(job_dir), gid)
        plan = plan_container(process, job_dir)
        for directory in plan.vcap_dirs:
            os.makedirs(directory, exist_ok=True)
            os.chown(directory, uid, gid)
        for mount in plan.mounts:
            if not os.path.exists(mount.host_path):
                raise BpmError(f"job '{process.job}' {CONFIG_PATH}: volume {mount.path} does not exist "
                               "(mount_only volumes must be made by someone else first)")
        setup = cgroups.setup(process)  # a crashed run's group is reused: its oom_kill count stays
        for warning in setup.warnings:
            print(f"bpm: {warning}", file=sys.stderr)
        root = BPM_DATA / "roots" / f"{process.job}.{process.name}"
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(BPM_DATA, 0o700)
        log_dir = Path(f"/var/vcap/sys/log/{process.job}")
        launch = container.Launch(process, plan, root, log_dir / f"{process.name}.stdout.log",
                                  log_dir / f"{process.name}.stderr.log", uid, gid, setup)
        pid = container.start(launch)
        tmp = pid_file(process).with_suffix(".pid.tmp")
        tmp.write_text(f"{pid}\n")
        os.replace(tmp, pid_file(process))
        return pid


def stop(process: BpmProcess, timeout: float = STOP_TIMEOUT) -> bool:
    """True if a process was running."""
    with locked(process):
        pid = running_pid(process)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)  # PID 1 gone: the kernel kills the whole namespace
                while pid_alive(pid):
                    time.sleep(0.05)
        pid_file(process).unlink(missing_ok=True)
        cgroups.remove(process)
        return pid is not None


def listing(job: str | None) -> list[tuple[str, str, int | None]]:
    """``(job/process, state, pid)`` for every bpm process of the installed jobs."""
    rows = []
    if job:
        jobs = [job]
    elif JOBS.is_dir():
        jobs = sorted(p.name for p in JOBS.iterdir() if (p / CONFIG_PATH).is_file())
    else:
        jobs = []
    for name in jobs:
        for process in parse_bpm_config(name, (JOBS / name / CONFIG_PATH).read_text()):
            pid = running_pid(process)
            rows.append((process.key, "running" if pid else "stopped", pid))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bpm", description="run a BOSH job's processes in containers")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("start", "stop", "pid"):
        cmd = sub.add_parser(command)
        cmd.add_argument("job")
        cmd.add_argument("-p", "--process", default=None, help="process name (default: the job's name)")
    sub.add_parser("list").add_argument("job", nargs="?")
    opts = parser.parse_args(argv)
    try:
        if opts.command == "list":
            for key, state, pid in listing(opts.job):
                print(f"{key}\t{state}\t{pid or '-'}")
            return 0
        process = load_process(opts.job, opts.process)
        if opts.command == "start":
            start(process)
        elif opts.command == "stop":
            stop(process)
        else:
            pid = running_pid(process)
            if pid is None:
                print(f"{process.key} is not running", file=sys.stderr)
                return 1
            print(pid)
        return 0
    except (BpmError, OSError) as e:
        print(f"bpm: {e}", file=sys.stderr)
        return 1
