"""Prometheus' text exposition format (version 0.0.4), written by hand.

Why not prometheus_client on the VM: the router runs on the stemcell's python3 with only
cf-platform and nats-py, and the router needs four kinds of line (HELP, TYPE, a sample, a
histogram's buckets). A small writer, tested against prometheus_client's own parser
(tests/cf/metrics), costs less than vendoring and keeping a second library in step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items()) + "}"


class MetricsText:
    """Collects families, then ``text()``. Names and label names are the caller's constants;
    label values are escaped."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Labels | None = None) -> None:
        self._lines.append(f"{name}{_labels(labels or {})} {_number(value)}")

    def histogram(self, name: str, bounds: Iterable[float], counts: Iterable[int], total: float,
                  labels: Labels | None = None) -> None:
        """``counts[i]`` observations fell in (bounds[i-1], bounds[i]]; the last count is the
        overflow above the last bound. Written cumulatively, as the format wants."""
        labels = dict(labels or {})
        cumulative = 0
        bounds = list(bounds)
        counts = list(counts)
        for bound, count in zip(bounds + [math.inf], counts):
            cumulative += count
            le = "+Inf" if math.isinf(bound) else repr(float(bound))  # "1.0", as Prometheus writes it
            self.sample(f"{name}_bucket", cumulative, {**labels, "le": le})
        self.sample(f"{name}_count", cumulative, labels)
        self.sample(f"{name}_sum", total, labels)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
