"""How scripts/test spreads the suite over pytest-xdist workers (``-n N --dist loadfile``).

Why each rule:
- A test file is one unit of work, so its module fixtures (a director, a deployment) start
  once, as in a serial run.
- The files of a package that shares a costly package fixture form one unit: tests/e2e/cf's
  ``cf_director``/``cf`` deploy the whole Cloud Foundry platform, which test_cf.py and then
  test_cf_zero_loss.py use; on two workers it would be deployed twice, and split apart on
  one worker it would be deployed again after the first part's teardown.
- Units with slow tests go first, then units with VM tests, then the rest: the suite's time
  is set by its longest units, and a long unit started last leaves the other workers idle
  (longest-first scheduling). Small unit-test files then fill the gaps at the end.
- Among those, the shared-fixture packages go first of all: each is the longest unit of the
  run (the cf package deploys the whole platform, then rolls, recreates and kills parts of it:
  about a quarter of a CI run on its worker), and in collection order it came after dozens of
  slow files, so it started minutes late.

tests/conftest.py plugs these into pytest: the scheduler through xdist's
``pytest_xdist_make_scheduler`` hook, the order through ``pytest_collection_modifyitems`` on
each worker (every worker sorts alike, so their collections still match).
"""

from __future__ import annotations

from typing import Iterable

import pytest

# packages (as in node ids) whose package fixtures make one deployment for all their files
SHARED_FIXTURE_PACKAGES: tuple[str, ...] = (
    "tests/e2e/cf/",  # cf_director and cf: the Cloud Foundry deployment
)


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or the shared package that file is in."""
    path = nodeid.split("::", 1)[0]
    return next((package for package in SHARED_FIXTURE_PACKAGES if path.startswith(package)), path)


def cost_rank(marker_names: Iterable[str]) -> int:
    """0 for a unit holding a slow test, 1 for one holding a VM test, 2 for the rest."""
    names = set(marker_names)
    return 0 if "slow" in names else 1 if "vm" in names else 2


def unit_rank(unit: str, marker_names: Iterable[str]) -> int:
    """:func:`cost_rank`, and -1 (before every other unit) for a shared-fixture package."""
    return -1 if unit in SHARED_FIXTURE_PACKAGES else cost_rank(marker_names)


def longest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` reordered by their unit's rank (:func:`unit_rank`; stable: within a rank, and
    within a unit, collection order is kept, so test_cf.py still runs before test_cf_zero_loss.py)."""
    rank: dict[str, int] = {}
    for item in items:
        unit = unit_of(item.nodeid)
        rank[unit] = min(rank.get(unit, 2), unit_rank(unit, (mark.name for mark in item.iter_markers())))
    return sorted(items, key=lambda item: rank[unit_of(item.nodeid)])


def make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's file scheduler with :func:`unit_of` as its grouping, keeping the order of
    :func:`longest_first` (xdist would otherwise sort units by their number of tests)."""
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False

    class SharedSessionFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return SharedSessionFileScheduling(config, log)
