"""Running one command, or copying one file, on many instances at once (BOSH's `ssh -c` and
`scp`), through fabric connections pinned to each instance's host key.

Output is written line by line as it arrives, each line prefixed with the instance's name,
so interleaved output from parallel instances stays readable. Every instance gets an
``Outcome``; one instance failing never stops the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import paramiko

from bosh_py.errors import BoshPyError
from bosh_py.ssh.pinned_fabric import open_pinned, pinned_connection, public_key

MAX_PARALLEL = 16  # connections at once: enough for a deployment, kind to the director's host


@dataclass(frozen=True)
class Target:
    """One instance to reach, as the director's ssh setup answered for it."""

    name: str  # "group/uuid"
    host: str
    user: str
    host_public_key: str


@dataclass(frozen=True)
class Outcome:
    name: str
    exit_status: int | None  # None: the command never ran (connection or transfer failed)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and self.error is None


class PrefixedLines:
    """A file-like sink (what invoke writes a stream to) that emits whole lines with a prefix;
    ``emit`` is shared by every instance and called under one lock."""

    def __init__(self, prefix: str, emit: Callable[[str], None], lock: threading.Lock) -> None:
        self.prefix, self.emit, self.lock, self.partial = prefix, emit, lock, ""

    def write(self, text: str) -> int:
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        with self.lock:
            for line in lines:
                self.emit(f"{self.prefix}: {line.rstrip(chr(13))}")
        return len(text)

    def flush(self) -> None:
        if self.partial:
            with self.lock:
                self.emit(f"{self.prefix}: {self.partial}")
            self.partial = ""


def _in_parallel(targets: list[Target], work: Callable[[Target], Outcome]) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, max(1, len(targets)))) as pool:
        return list(pool.map(work, targets))


def _connect(target: Target, pkey: paramiko.PKey):  # type: ignore[no-untyped-def] - fabric is untyped
    connection = pinned_connection(target.host, pkey, public_key(target.host_public_key, f"{target.name} host key"),
                                   user=target.user)
    return open_pinned(connection, target.name)


def run_everywhere(targets: list[Target], pkey: paramiko.PKey, command: str,
                   out: Callable[[str], None], err: Callable[[str], None]) -> list[Outcome]:
    """Run ``command`` on every target in parallel; each output line goes to ``out`` or
    ``err`` prefixed with the target's name."""
    lock = threading.Lock()

    def one(target: Target) -> Outcome:
        stdout, stderr = PrefixedLines(target.name, out, lock), PrefixedLines(target.name, err, lock)
        try:
            with _connect(target, pkey) as connection:
                result = connection.run(command, warn=True, hide=False, pty=False, in_stream=False,
                                        out_stream=stdout, err_stream=stderr)
            return Outcome(target.name, result.exited)
        except Exception as error:  # noqa: BLE001 - reported per instance; the others carry on
            return Outcome(target.name, None, str(error) or type(error).__name__)
        finally:
            stdout.flush()
            stderr.flush()

    return _in_parallel(targets, one)


def upload_everywhere(targets: list[Target], pkey: paramiko.PKey, local: Path, remote: str) -> list[Outcome]:
    """Copy one local file to ``remote`` on every target."""
    def one(target: Target) -> Outcome:
        try:
            with _connect(target, pkey) as connection:
                connection.put(str(local), remote=remote, preserve_mode=True)
            return Outcome(target.name, 0)
        except Exception as error:  # noqa: BLE001 - reported per instance
            return Outcome(target.name, None, f"upload to {remote} failed: {error}")

    return _in_parallel(targets, one)


def download_everywhere(targets: list[Target], pkey: paramiko.PKey, remote: str,
                        destination_of: Callable[[Target], Path]) -> list[Outcome]:
    """Copy ``remote`` from every target to the local path ``destination_of(target)``."""
    def one(target: Target) -> Outcome:
        destination = destination_of(target)
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with _connect(target, pkey) as connection:
                connection.get(remote, local=str(destination), preserve_mode=True)
            return Outcome(target.name, 0)
        except Exception as error:  # noqa: BLE001 - reported per instance
            return Outcome(target.name, None, f"download of {remote} failed: {error}")

    return _in_parallel(targets, one)


def summary(outcomes: list[Outcome], verb: str) -> tuple[str, list[str]]:
    """The closing line and one line per failed instance (naming how it failed)."""
    failed = [o for o in outcomes if not o.ok]
    lines = [f"{o.name}: {o.error if o.error else f'exit status {o.exit_status}'}" for o in failed]
    head = f"{verb} on {len(outcomes) - len(failed)} of {len(outcomes)} instance(s)"
    return (head + (f"; failed on {len(failed)}" if failed else ""), lines)


class NoTarget(BoshPyError):
    pass
