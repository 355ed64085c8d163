"""Helpers for tests that attack a real local director over HTTP (tests/security): an API
client with the operator's credentials, and small releases written on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml

from tests.harness import LocalDirector


def api(director: LocalDirector, authenticated: bool = True, timeout: float = 10.0) -> httpx.Client:
    """An HTTP client of the director's API, as the CLI builds it (credentials from cli.json)."""
    config = json.loads((director.root / "cli.json").read_text())
    auth = (config["user"], config["password"]) if authenticated else None
    return httpx.Client(base_url=config["url"], auth=auth, timeout=timeout)


def write_release(root: Path, name: str, jobs: dict[str, dict[str, str]]) -> Path:
    """A release directory with no packages: job name -> {template file: text}; each
    template renders to config/<file> and each job runs `sleep` (it never gets that far)."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config/final.yml").write_text(f"name: {name}\n")
    for job, templates in jobs.items():
        job_dir = root / "jobs" / job
        (job_dir / "templates").mkdir(parents=True, exist_ok=True)
        spec = {"name": job, "templates": {t: f"config/{t}" for t in templates}, "packages": [], "properties": {}}
        (job_dir / "spec").write_text(yaml.safe_dump(spec))
        (job_dir / "monit").write_text(f"processes:\n- name: {job}\n  executable: /bin/sleep\n  args: ['3600']\n")
        for template, text in templates.items():
            (job_dir / "templates" / template).write_text(text)
    return root


def one_group_manifest(name: str, release: str, jobs: list[str], instances: int = 1) -> dict:
    return {
        "name": name,
        "releases": [{"name": release, "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 1, "canary_watch_time": "500-10000",
                   "update_watch_time": "500-10000"},
        "instance_groups": [{"name": "web", "azs": ["z1"], "instances": instances, "vm_type": "default",
                             "stemcell": "default", "networks": [{"name": "default"}],
                             "jobs": [{"name": job, "release": release, "properties": {}} for job in jobs]}],
    }
