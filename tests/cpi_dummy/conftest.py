"""The ``dummy_director`` fixture (tests/director/dummy_support.py), one per test module."""

from __future__ import annotations

import pytest

from tests.director.dummy_support import DummyDirector
from tests.director.dummy_support import dummy_director as _dummy_director


@pytest.fixture(scope="module")
def dummy_director(tmp_path_factory) -> DummyDirector:
    with _dummy_director(tmp_path_factory.mktemp("dummy")) as director:
        yield director
