"""The process that renders release templates for the director: ``python -m bosh_py.release.render_worker``.

Release templates are written by whoever authored the release; a loop or a huge string in
one must not stall or exhaust the director. So the director (``isolated_render``) starts
this process per deploy, with every instance's render request pickled on stdin, and this
process, after reading them, caps its own address space and CPU time, then renders and
answers with JSON lines on stdout (never pickle: the director does not unpickle what
template code could have touched):

    {"started": i, "where": "job 'web' template 'config/x.conf'"}   before each template
    {"rendered": i, "files": {job: {path: text}}}                    instance i rendered
    {"rendered": i, "errors": ["..."], "message": "..."}             instance i has problems
    {"limit": "time" | "memory", "instance": i, "where": "... line 3"}  then the process exits

A template's time limit is an alarm raised inside it (so the error has its line); the
director kills this process if even that does not stop it. ERB templates render in Ruby
processes this one starts (``bosh_py.release.erb``), with the same time and memory
limits, timed by ``ErbRenderers`` rather than this process's alarm.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, TextIO

from .erb import ErbRenderers
from .errors import RenderError
from .render import (JobForRender, TemplateCompiler, TemplateLimitExceeded, TemplateOutOfMemory,
                     TemplateTimedOut, render_job_files)


@dataclass(frozen=True)
class RenderRequest:
    """One instance to render: its jobs, apply spec and consumed links (plain data)."""

    jobs: list[JobForRender]
    instance_spec: dict[str, Any]
    links: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerInput:
    requests: list[RenderRequest]
    seconds: float  # wall-clock time one template may take
    memory_bytes: int  # address space the templates may add to what the worker holds after loading
    cpu_seconds: int  # a backstop for a worker whose director went away


def _address_space_in_use() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmSize missing from /proc/self/status")


def apply_limits(memory_bytes: int, cpu_seconds: int) -> None:
    """Cap this process: ``memory_bytes`` more address space than it has now, and CPU time.

    The address-space cap is the soft limit only, so the Ruby renderers this process starts
    for ERB can set their own (their own size plus ``memory_bytes``): a template cannot
    call setrlimit from the sandbox, and the director runs as root, whom a hard limit
    does not bind anyway."""
    limit = _address_space_in_use() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _emit(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _time_is_up(_signum: int, _frame: Any) -> None:
    raise TemplateTimedOut()


def serve(source: BinaryIO, out: TextIO) -> int:
    work: WorkerInput = pickle.load(source)  # written by the director itself, never by a release
    apply_limits(work.memory_bytes, work.cpu_seconds)
    with ErbRenderers(work.seconds, work.memory_bytes, work.cpu_seconds) as erb:
        return _render_all(work, erb, out)


def _render_all(work: WorkerInput, erb: ErbRenderers, out: TextIO) -> int:
    signal.signal(signal.SIGALRM, _time_is_up)
    compiler = TemplateCompiler()  # one for all instances: each template compiles once
    for index, request in enumerate(work.requests):
        current = {"where": f"instance {index}"}

        @contextlib.contextmanager
        def bounded(where: str, timed: bool, _index: int = index) -> Iterator[None]:
            current["where"] = where
            _emit(out, {"started": _index, "where": where})
            signal.setitimer(signal.ITIMER_REAL, work.seconds if timed else 0)
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)

        try:
            try:
                files = render_job_files(request.jobs, request.instance_spec, request.links, bounded, compiler, erb)
            except RenderError as error:
                _emit(out, {"rendered": index, "errors": error.errors, "message": str(error)})
            else:
                _emit(out, {"rendered": index, "files": files})
        except TemplateLimitExceeded as error:
            kind = "memory" if isinstance(error, TemplateOutOfMemory) else "time"
            _emit(out, {"limit": kind, "instance": index, "where": error.where})
            return 0
        except MemoryError:  # the rendered output itself was too big to send
            files = {}
            _emit(out, {"limit": "memory", "instance": index, "where": current["where"]})
            return 0
    return 0


if __name__ == "__main__":
    code = serve(sys.stdin.buffer, sys.stdout)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown (~0.1 s the director would wait for)
