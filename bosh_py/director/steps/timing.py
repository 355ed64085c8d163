"""Where one instance's update spent its time, step by step, as one debug-log line:

    Timing web/3: stop 0.101 s, apply 0.210 s, start 0.080 s, watch 0.512 s, post-start 0.061 s; polls 1

so an operator (and bench/deploy.py's rollout breakdown) can read whether a slow rollout
waits on drain, on the agent installing the new jobs, or on the watch time. Steps that did
not run are left out; a step run twice adds up."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

LINE = re.compile(r"^Timing (?P<instance>[^\s/]+/\d+): (?P<spans>[^;]*)(?:; polls (?P<polls>\d+))?$")
SPAN = re.compile(r"(?P<step>[a-z][a-z-]*) (?P<seconds>\d+(?:\.\d+)?) s")


@dataclass
class StepTimes:
    spans: dict[str, float] = field(default_factory=dict)
    polls: int = 0  # get_state calls of the watch

    @contextmanager
    def measure(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spans[step] = self.spans.get(step, 0.0) + time.perf_counter() - started

    def line(self, instance: str) -> str:
        spans = ", ".join(f"{step} {seconds:.3f} s" for step, seconds in self.spans.items())
        return f"Timing {instance}: {spans}; polls {self.polls}"


def parse_line(text: str) -> tuple[str, dict[str, float], int] | None:
    """(instance, {step: seconds}, polls) of a line ``line`` wrote, without its log stamp;
    None for any other line."""
    match = LINE.match(text)
    if match is None:
        return None
    spans = {m["step"]: float(m["seconds"]) for m in SPAN.finditer(match["spans"])}
    return match["instance"], spans, int(match["polls"] or 0)
