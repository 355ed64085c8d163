"""One isolated Ruby process rendering ERB templates, and the wall clock over each template.

A template gets ``seconds``; then the process receives SIGALRM, which raises inside the
template so the answer names the line; a template that ignores even that (it rescued the
exception, or is stuck in C code) is killed ``ALARM_GRACE`` seconds later.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from .sandbox import RUBY_ENV, ruby_command

ALARM_GRACE = 2.0  # seconds between SIGALRM and SIGKILL


@dataclass(frozen=True)
class ErbOutcome:
    """What became of one template: its text, or an error / a limit, with the line if known."""

    text: str | None = None
    error: str | None = None
    limit: str | None = None  # "time" or "memory"
    line: int | None = None


class RubyProcess:
    """A Ruby renderer started on first use; ``close`` ends it (killed, then reaped)."""

    def __init__(self, memory_bytes: int, cpu_seconds: int) -> None:
        self._memory_bytes = memory_bytes
        self._cpu_seconds = cpu_seconds
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                ruby_command(self._memory_bytes, self._cpu_seconds), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=RUBY_ENV, cwd="/", close_fds=True)
            self._buffer = b""
        return self._process

    def render(self, request: dict[str, Any], seconds: float) -> ErbOutcome:
        process = self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except (BrokenPipeError, ConnectionResetError):
            return self._died()
        line = self._read_line(time.monotonic() + seconds)
        if line is None:
            process.send_signal(signal.SIGALRM)
            line = self._read_line(time.monotonic() + ALARM_GRACE)
            if line is None:
                self.close()
                return ErbOutcome(limit="time")
        if line == b"":
            return self._died()
        try:
            reply = json.loads(line)
        except ValueError:  # the template wrote to the real STDOUT, out of turn
            self.close()
            return ErbOutcome(error="the template wrote into the renderer's own output (STDOUT)")
        outcome = ErbOutcome(text=reply.get("text"), error=reply.get("error"), limit=reply.get("limit"),
                             line=reply.get("line"))
        if outcome.limit:
            self.close()  # after a limit the interpreter is not trusted to go on
        return outcome

    def _read_line(self, deadline: float) -> bytes | None:
        """The next line of output; None at the deadline, b"" when the output ended."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _died(self) -> ErbOutcome:
        """The process ended mid-template: out of memory if Ruby said so, else how it ended."""
        assert self._process is not None and self._process.stderr is not None
        code = self._process.wait()
        last = self._process.stderr.read(65536).decode(errors="replace").strip().splitlines()[-1:] or [""]
        self.close()
        if "failed to allocate memory" in last[0]:
            return ErbOutcome(limit="memory")
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
        # Only the isolation tools' own words: Ruby's could quote the template's data.
        why = f": {last[0][:200]}" if last[0].startswith(("unshare:", "setpriv:")) else ""
        return ErbOutcome(error=f"the Ruby renderer {how}{why}")

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass
