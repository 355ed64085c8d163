"""Session-wide test policy: in CI (``CI=true``) a skipped test fails the run unless
tests/allowed_skips.txt lists it with its reason; under pytest-xdist (scripts/test), tests
are handed to workers by tests/worker_scheduling.py's rules.

Why: CI runs as root on a machine that scripts/setup fully provisions, so a skip there means
a test silently stopped testing (a missing binary, an unbuilt stemcell, an exception turned
into a skip). On a developer's machine skips stay skips.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import worker_scheduling

# the local CPI's session fixtures (cpi, make_vm, ...): one set however many packages use them
pytest_plugins = ["tests.cpi.fixtures"]

ALLOWED_SKIPS = Path(__file__).resolve().parent / "allowed_skips.txt"


@dataclass(frozen=True)
class AllowedSkip:
    pattern: str  # a node id, or a node id prefix ending in '*' (node ids hold '[', so no globs)
    reason: str


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def load_allowed_skips(path: Path = ALLOWED_SKIPS) -> list[AllowedSkip]:
    """``<node id or prefix*>  # <why this skip is legitimate in CI>`` per line; a line
    without a reason is an error, so no skip is allowed without saying why."""
    allowed = []
    if not path.exists():
        return allowed
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pattern, _, reason = stripped.partition("#")
        if not pattern.strip() or not reason.strip():
            raise pytest.UsageError(f"{path}:{number}: expected '<node id or prefix*>  # <reason>', got {line!r}")
        allowed.append(AllowedSkip(pattern.strip(), reason.strip()))
    return allowed


def matches(nodeid: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        return nodeid.startswith(pattern[:-1])
    return nodeid == pattern


def is_allowed(nodeid: str, allowed: list[AllowedSkip]) -> bool:
    return any(matches(nodeid, entry.pattern) for entry in allowed)


def skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def unlisted_skip_message(nodeid: str, longrepr: object) -> str:
    return (f"{nodeid} was skipped in CI ({skip_reason(longrepr)}); a skip in CI fails the run unless "
            f"{ALLOWED_SKIPS.relative_to(ALLOWED_SKIPS.parent.parent)} lists it with its reason")


_ALLOWED = pytest.StashKey[list[AllowedSkip]]()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile`` keeps files that share a costly session fixture on one worker."""
    if config.getoption("dist") != "loadfile":
        return None
    return worker_scheduling.make_scheduler(config, log)


@pytest.hookimpl(trylast=True)  # after the conftests that add the vm/slow marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers, slow units first (tests/worker_scheduling.py); a plain run keeps
    collection order."""
    if hasattr(config, "workerinput"):
        items[:] = worker_scheduling.longest_first(items)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_ALLOWED] = load_allowed_skips() if in_ci() else []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    if is_allowed(item.nodeid, item.config.stash[_ALLOWED]):
        return
    report.outcome = "failed"
    report.longrepr = unlisted_skip_message(item.nodeid, report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> object:
    """A module that skips itself at import (``allow_module_level=True``) is a skip too."""
    outcome = yield
    report = outcome.get_result()
    if not in_ci() or not report.skipped:
        return
    if is_allowed(report.nodeid, collector.config.stash[_ALLOWED]):
        return
    report.outcome = "failed"
    report.longrepr = unlisted_skip_message(report.nodeid, report.longrepr)
