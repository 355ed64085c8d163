"""Manifests the end-to-end tests deploy, built as dicts so each test states its change."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml


def web_manifest(name: str = "web", instances: int = 3, message: str = "hello", max_in_flight: int | str = 2,
                 extra_jobs: list[dict] | None = None, disk: bool = True) -> dict:
    group = {
        "name": "web", "azs": ["z1", "z2"], "instances": instances, "vm_type": "default",
        "stemcell": "default", "networks": [{"name": "default"}],
        "jobs": [{"name": "web", "release": "testrel",
                  "properties": {"web": {"message": message, "port": 8080}}}] + (extra_jobs or []),
    }
    if disk:
        group["persistent_disk_type"] = "small"
    return {
        "name": name,
        "releases": [{"name": "testrel", "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": max_in_flight, "canary_watch_time": "500-10000",
                   "update_watch_time": "500-10000"},
        "instance_groups": [group],
    }


def write(tmp: Path, manifest: dict, filename: str = "manifest.yml") -> str:
    path = tmp / filename
    path.write_text(yaml.safe_dump(copy.deepcopy(manifest), sort_keys=False))
    return str(path)
