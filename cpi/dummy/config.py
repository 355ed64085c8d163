"""The dummy CPI's config file (JSON or YAML):

    state_dir: /tmp/dummy            # required: VMs, disks, state.json, failures.json
    agent_host_rewrite: 127.0.0.1    # host put in the agents' mbus/blobstore URLs (null: keep)
    python: /path/to/python          # runs ``python -m bosh_py.agent`` (default: this Python)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cpi.protocol import InvalidCall

KEYS = {"state_dir", "agent_host_rewrite", "python"}


@dataclass(frozen=True)
class DummyConfig:
    state_dir: Path
    agent_host_rewrite: str | None = "127.0.0.1"
    python: str = sys.executable

    @property
    def vms(self) -> Path:
        return self.state_dir / "vms"

    @property
    def disks(self) -> Path:
        return self.state_dir / "disks"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "state.lock"

    @property
    def failures_file(self) -> Path:
        return self.state_dir / "failures.json"

    def vm_dir(self, cid: str) -> Path:
        return self.vms / cid


def parse_config(doc: Any, source: str) -> DummyConfig:
    if not isinstance(doc, dict):
        raise InvalidCall(f"{source}: expected a mapping with state_dir")
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise InvalidCall(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    state_dir = doc.get("state_dir")
    if not isinstance(state_dir, str) or not state_dir.startswith("/"):
        raise InvalidCall(f"{source}: state_dir must be an absolute path, got {state_dir!r}")
    rewrite = doc.get("agent_host_rewrite", "127.0.0.1")
    if rewrite is not None and (not isinstance(rewrite, str) or not rewrite):
        raise InvalidCall(f"{source}: agent_host_rewrite must be a host name or null, got {rewrite!r}")
    python = doc.get("python", sys.executable)
    if not isinstance(python, str) or not python.startswith("/"):
        raise InvalidCall(f"{source}: python must be an absolute path, got {python!r}")
    return DummyConfig(Path(state_dir), rewrite, python)


def load_config(path: str | None) -> DummyConfig:
    if not path:
        raise InvalidCall("the dummy CPI needs a config file (bosh-py-cpi-dummy CONFIG)")
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InvalidCall(f"cannot read dummy CPI config {path}: {error}") from error
    config = parse_config(doc, path)
    for directory in (config.state_dir, config.vms, config.disks):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return config
