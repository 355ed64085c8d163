"""ERB job templates, rendered by Ruby's own ERB with bosh-template's helpers.

Each job gets its own isolated Ruby process (``sandbox``), started when its first ``.erb``
template renders and kept for the job's templates on every instance of the deploy: Ruby
starts in about 20 ms, and a template can change the interpreter it runs in (redefine a
helper, print into the protocol), so jobs, possibly from other releases' authors, never
share one.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .ruby_process import ErbOutcome, RubyProcess

__all__ = ["ErbOutcome", "ErbRenderers", "is_erb"]


def is_erb(source_name: str) -> bool:
    """A job template in ERB: its source file name ends in ``.erb`` (as in BOSH releases)."""
    return source_name.endswith(".erb")


class ErbRenderers:
    """The Ruby processes of one render run, one per job; a context manager that ends them."""

    def __init__(self, seconds: float = 10.0, memory_bytes: int = 256 << 20, cpu_seconds: int = 600) -> None:
        self.seconds = seconds
        self.memory_mib = memory_bytes >> 20
        self._memory_bytes = memory_bytes
        self._cpu_seconds = cpu_seconds
        self._processes: dict[str, RubyProcess] = {}

    def render(self, job: str, request: dict[str, Any]) -> ErbOutcome:
        """Render one template of ``job``. ``request``: source, template (its name in the
        job's spec), properties (the job's effective tree), spec, links (name -> data)."""
        process = self._processes.setdefault(job, RubyProcess(self._memory_bytes, self._cpu_seconds))
        return process.render(request, self.seconds)

    def close(self) -> None:
        for process in self._processes.values():
            process.close()
        self._processes.clear()

    def __enter__(self) -> ErbRenderers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
