"""Run a command in its own process group, streaming its output to log files while
keeping the last lines, because the director's error message must show why a script
failed (the tail) without shipping the whole log over NATS.

Cancellation (cancel_task) or a timeout kills the whole process group, so a packaging
script's children do not outlive it."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Sequence

DEFAULT_PATH = "/var/vcap/bosh/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class CommandResult:
    returncode: int
    tail: list[str] = field(default_factory=list)
    stdout: str = ""  # only when capture_stdout

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail_text(self) -> str:
        return "\n".join(self.tail)


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for job scripts: never the agent's own (it may carry
    credentials passed by whoever started the agent)."""
    env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    for k, v in (extra or {}).items():
        env[str(k)] = str(v)
    return env


async def run_command(argv: Sequence[str], *, cwd: Path | None = None,
                      env: dict[str, str] | None = None, stdout_log: Path | None = None,
                      stderr_log: Path | None = None, capture_stdout: bool = False,
                      timeout: float | None = None, tail_lines: int = 20) -> CommandResult:
    """Run ``argv``; output to ``stdout_log``/``stderr_log`` (the same path merges the two
    streams in order, as a terminal would show them). The tail holds the last
    ``tail_lines`` lines: merged, or stdout's then stderr's when the streams are apart."""
    merged = stdout_log is not None and stdout_log == stderr_log and not capture_stdout
    tails = {"stdout": collections.deque(maxlen=tail_lines),
             "stderr": collections.deque(maxlen=tail_lines)}
    captured: list[str] = []
    files: list[IO[bytes]] = []

    def sink(path: Path | None) -> IO[bytes] | None:
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "ab")
        files.append(f)
        return f

    try:
        proc = await asyncio.create_subprocess_exec(
            *map(str, argv), cwd=str(cwd) if cwd else None, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merged else asyncio.subprocess.PIPE,
            start_new_session=True)
    except OSError as e:
        return CommandResult(127, [f"cannot execute {argv[0]}: {e.strerror or e}"])

    async def pump(stream: asyncio.StreamReader | None, out: IO[bytes] | None,
                   tail: collections.deque, capture: bool) -> None:
        while stream is not None:
            line = await stream.readline()
            if not line:
                return
            if out is not None:
                out.write(line)
                out.flush()
            text = line.decode(errors="replace").rstrip("\n")
            tail.append(text)
            if capture:
                captured.append(text)

    try:
        pumps = asyncio.gather(
            pump(proc.stdout, sink(stdout_log), tails["stdout"], capture_stdout),
            pump(None if merged else proc.stderr, None if merged else sink(stderr_log),
                 tails["stderr"], False))
        try:
            await asyncio.wait_for(asyncio.shield(pumps), timeout)
            returncode = await proc.wait()
        except asyncio.TimeoutError:
            await kill_group(proc)
            await pumps
            tails["stderr"].append(f"(killed after {timeout:g}s)")
            returncode = -signal.SIGKILL
        except asyncio.CancelledError:
            await kill_group(proc)
            pumps.cancel()
            raise
    finally:
        for f in files:
            f.close()
    tail = list(tails["stdout"])
    if tails["stderr"]:
        tail += (["--- stderr ---"] if tail else []) + list(tails["stderr"])
    return CommandResult(returncode, tail, "\n".join(captured))


async def kill_group(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL what remains after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.returncode is not None:
            _killpg_quiet(proc.pid)
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            _killpg_quiet(proc.pid)
            return
        except asyncio.TimeoutError:
            continue


def _killpg_quiet(pgid: int) -> None:
    """Leftover members of the group (the leader already exited) get SIGKILL."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
