"""Fixtures for the haproxy job's tests: the haproxy package built once per session from
its blobs by its own packaging script."""

from __future__ import annotations

from pathlib import Path

import pytest

from .haproxy_support import build_package


@pytest.fixture(scope="session")
def haproxy_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("haproxy-package"))
