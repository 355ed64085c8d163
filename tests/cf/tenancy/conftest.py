"""Fixtures: one real UAA per test (tests/cf/uaa's, with its python3-cryptography package),
and per test a real CC that trusts it, with the DEA stand-in and nats-server of
tests/cf/conftest.py, and cf-py with its own config file."""

from __future__ import annotations

import pytest

from tests.cf.cc.plumbing import end_process
from tests.cf.client.conftest import CfPy, app_dir  # noqa: F401  (a fixture)
from tests.cf.uaa.uaa_support import build_package, new_signing_key, start_uaa

from .tenancy_support import start_cc_with_uaa


@pytest.fixture(scope="session")
def crypto_package(tmp_path_factory):
    return build_package(tmp_path_factory.mktemp("python3-cryptography-package"))


@pytest.fixture(scope="module")
def signing_key():
    return new_signing_key()


@pytest.fixture
def uaa(tmp_path, crypto_package, signing_key):
    """Per test: the users a test makes in it are its own."""
    process = start_uaa(tmp_path / "uaa", crypto_package, signing_key)
    yield process
    process.stop()
    print(process.log()[-3000:])  # shown by pytest when a test failed


@pytest.fixture
def cc(tmp_path, nats_server, dea, uaa, crypto_package):
    process = start_cc_with_uaa(tmp_path / "cc", nats_server, uaa.url, crypto_package)
    yield process
    end_process(process.proc)
    print(process.log()[-5000:])


@pytest.fixture
def cf_for(tmp_path, cc):
    """``cf_for("alice")``: a cf-py with its own config and home, targeted at the CC."""
    made: dict[str, CfPy] = {}

    def make(name: str) -> CfPy:
        if name not in made:
            home = tmp_path / f"home-{name}"
            home.mkdir()
            made[name] = CfPy(home / "cf-py.json", home)
            made[name].ok("api", cc.url)
        return made[name]
    return make
