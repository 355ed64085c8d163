"""Fixtures: fresh copies of the sample documents for each test."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bosh_py.manifest.load import load_yaml
from tests.manifest.samples import CLOUD_CONFIG, MANIFEST


@pytest.fixture
def manifest_doc() -> dict[str, Any]:
    return copy.deepcopy(load_yaml(MANIFEST, "manifest.yml"))


@pytest.fixture
def cloud_doc() -> dict[str, Any]:
    return copy.deepcopy(load_yaml(CLOUD_CONFIG, "cloud-config.yml"))
