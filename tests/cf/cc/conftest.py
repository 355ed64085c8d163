"""Fixtures: the shared nats-server, DEA stand-in and CC process come from tests/cf/conftest.py."""

from __future__ import annotations

import pytest

from tests.cf.cc.plumbing import login


@pytest.fixture
def auth(cc):
    return login(cc)
