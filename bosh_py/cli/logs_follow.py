"""`bosh-py logs --follow`: the job logs of a deployment's instances, live, until Ctrl-C.

Like BOSH's `bosh logs -f`, this runs ``tail -F`` on each selected VM over SSH, with the
one-time key `bosh-py ssh` uses (authorized through the director, revoked on exit, expiring
on its own) and each VM's host key pinned from the director's records; every line is
printed prefixed with its instance (``web/<id>: ...``). Why SSH and not the director: the
director would have to hold one stream per VM open for the whole session and relay every
line; over SSH the lines go straight from the VM to the operator, the director only grants
and revokes access (and records both as events), and nothing new listens on the VMs.

Ending the session (Ctrl-C, SIGTERM, SIGHUP, or the CLI killed) closes the channel, and with
it the pipe ``tail`` writes to: coreutils' ``tail -F`` watches its output and exits when the
reader is gone, so no tail lingers on the VM (the test checks it). No pseudo-terminal is
asked for: stdout and stderr stay plain lines, combined so ``tail``'s own notices
("file truncated") show too.
``tail -F`` follows the ``*.log`` files that exist when it starts (by name: rotation and
truncation are followed); a job whose first log appears later is not picked up.
"""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from bosh_py.cli.client import DirectorClient
from bosh_py.cli.ssh_cmds import (
    OneTimeAccess,
    remove_stale_key_dirs,
    selected_instances,
)
from bosh_py.errors import BoshPyError
from bosh_py.ssh.fanout import PrefixedLines, Target
from bosh_py.ssh.pinned_fabric import (
    open_pinned,
    pinned_connection,
    private_key,
    public_key,
)

LOG_ROOT = "/var/vcap/sys/log"
JOB_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
STOP_WAIT = 5.0  # seconds to wait for each tail's thread after its session is closed


def tail_command(jobs: tuple[str, ...], lines: int) -> str:
    """The shell command run on each VM: the last ``lines`` lines of every ``*.log`` under
    /var/vcap/sys/log (or under the given jobs' directories), then follow."""
    for job in jobs:
        if not JOB_NAME.fullmatch(job):
            raise BoshPyError(f"--job '{job}': not a job name (letters, digits, '_', '.', '-')")
    if lines < 0:
        raise BoshPyError(f"--num {lines}: must be 0 or more")
    where = " ".join(shlex.quote(job) for job in jobs) or "."
    what = f"jobs {', '.join(jobs)}" if jobs else "any job"
    return (f"cd {LOG_ROOT} 2>/dev/null || {{ echo 'no {LOG_ROOT} on this VM' >&2; exit 1; }}; "
            f"files=$(find {where} -type f -name '*.log' 2>/dev/null | sort); "
            f"[ -n \"$files\" ] || {{ echo 'no *.log files of {what} under {LOG_ROOT}' >&2; exit 1; }}; "
            f"exec tail -n {lines} -F $files")


@dataclass
class TailResult:
    name: str
    exit_status: int | None = None
    error: str | None = None


class InstanceTail:
    """One instance's tail: its own pinned SSH session, read on its own thread."""

    def __init__(self, target: Target, pkey: paramiko.PKey, command: str, emit: PrefixedLines) -> None:
        self.target, self.pkey, self.command, self.sink = target, pkey, command, emit
        self.result = TailResult(target.name)
        self.stopping = threading.Event()
        self.connection = None  # type: ignore[var-annotated] - fabric is untyped
        self.thread = threading.Thread(target=self._run, name=f"tail {target.name}", daemon=True)

    def _run(self) -> None:
        try:
            connection = pinned_connection(self.target.host, self.pkey,
                                           public_key(self.target.host_public_key, f"{self.target.name} host key"),
                                           user=self.target.user)
            self.connection = open_pinned(connection, self.target.name)
            channel = self.connection.client.get_transport().open_session()
            channel.set_combine_stderr(True)
            channel.exec_command(self.command)
            while data := channel.recv(32768):
                self.sink.write(data.decode(errors="replace"))
            self.sink.flush()
            if not self.stopping.is_set():  # ended on its own (no log files, VM gone, ...)
                self.result.exit_status = channel.recv_exit_status()
        except Exception as error:  # noqa: BLE001 - reported per instance; the others carry on
            if not self.stopping.is_set():
                self.result.error = str(error) or type(error).__name__
        finally:
            self.sink.flush()

    def stop(self) -> None:
        """Close the session (the VM's tail exits when its output pipe closes) and wait a little."""
        self.stopping.set()
        if self.connection is not None:
            self.connection.close()
        self.thread.join(STOP_WAIT)


def all_instances_with_vm(director: DirectorClient, deployment: str) -> list[dict]:
    rows = [r for r in director.get(f"/deployments/{deployment}/instances") if r.get("vm_cid")]
    if not rows:
        raise BoshPyError(f"Deployment '{deployment}' has no instance with a VM")
    return sorted(rows, key=lambda r: (r["group"], r["index"]))


def follow_logs(director: DirectorClient, deployment: str, selector: str | None, jobs: tuple[str, ...],
                lines: int, out: Callable[[str], None], err: Callable[[str], None]) -> int:
    """Tail until Ctrl-C (or every tail ended); 0, or 1 if a tail failed on some instance."""
    command = tail_command(jobs, lines)
    remove_stale_key_dirs()
    rows = selected_instances(director, deployment, selector) if selector else all_instances_with_vm(director,
                                                                                                    deployment)
    lock = threading.Lock()
    reported: set[str] = set()

    def report_ended() -> None:
        """Name each instance whose tail failed as soon as it ended; the others go on."""
        for tail in tails:
            result = tail.result
            if not tail.thread.is_alive() and result.name not in reported and (
                    result.error or result.exit_status not in (None, 0)):
                reported.add(result.name)
                with lock:
                    err(f"{result.name}: {result.error or f'tail exited with status {result.exit_status}'}")

    with OneTimeAccess(director, deployment, rows) as access:
        pkey = private_key(access.key.private_key, "one-time key")
        tails = [InstanceTail(t, pkey, command, PrefixedLines(t.name, out, lock)) for t in access.targets]
        for tail in tails:
            tail.thread.start()
        try:
            while any(tail.thread.is_alive() for tail in tails):
                for tail in tails:
                    tail.thread.join(0.2)
                report_ended()
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a follow ends
        finally:
            for tail in tails:
                tail.stop()
    report_ended()
    return 1 if reported else 0
