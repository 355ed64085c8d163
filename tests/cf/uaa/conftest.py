"""Fixtures for the uaa job's tests: the python3-cryptography package built once per session
from its blobs by its own packaging script, and one real UAA process per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from .uaa_support import build_package, new_signing_key, start_uaa


@pytest.fixture(scope="session")
def crypto_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("python3-cryptography-package"))


@pytest.fixture(scope="module")
def signing_key() -> str:
    return new_signing_key()


@pytest.fixture(scope="module")
def uaa(tmp_path_factory, crypto_package, signing_key):
    process = start_uaa(tmp_path_factory.mktemp("uaa"), crypto_package, signing_key)
    yield process
    process.stop()
    print(process.log()[-5000:])  # shown by pytest when a test failed


@pytest.fixture
def http(uaa):
    with uaa.client() as client:
        yield client
