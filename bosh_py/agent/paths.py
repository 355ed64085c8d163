"""Where things live on a BOSH-style VM (REFERENCE.md section 3), under a root that is "/"
on a VM and a temporary directory in tests (BOSH_PY_AGENT_ROOT)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    def vm(self, path: str) -> Path:
        """A path as seen on the VM (``/var/vcap/...``) mapped under the agent root."""
        return self.root / str(path).lstrip("/")

    @property
    def vcap(self) -> Path:
        return self.root / "var/vcap"

    @property
    def jobs(self) -> Path:
        return self.vcap / "jobs"

    @property
    def packages(self) -> Path:
        return self.vcap / "packages"

    @property
    def data(self) -> Path:
        return self.vcap / "data"

    @property
    def store(self) -> Path:
        return self.vcap / "store"

    @property
    def sys(self) -> Path:
        return self.vcap / "sys"

    @property
    def sys_log(self) -> Path:
        return self.sys / "log"

    @property
    def sys_run(self) -> Path:
        return self.sys / "run"

    @property
    def bosh(self) -> Path:
        return self.vcap / "bosh"

    @property
    def data_packages(self) -> Path:
        return self.data / "packages"

    @property
    def data_jobs(self) -> Path:
        return self.data / "jobs"

    @property
    def compile_dir(self) -> Path:
        return self.data / "compile"

    @property
    def tmp(self) -> Path:
        return self.data / "tmp"

    @property
    def settings_json(self) -> Path:
        return self.bosh / "settings.json"

    @property
    def spec_json(self) -> Path:
        return self.bosh / "spec.json"

    @property
    def state_json(self) -> Path:
        return self.bosh / "agent_state.json"

    @property
    def agent_log_dir(self) -> Path:
        return self.bosh / "log"

    def ensure_layout(self) -> None:
        """The standard directories. /var/vcap/sys is a link into the ephemeral disk, as
        on BOSH stemcells, so logs never fill the root filesystem."""
        for d in (self.jobs, self.packages, self.data_packages, self.data_jobs,
                  self.data / "sys/log", self.data / "sys/run", self.store, self.tmp,
                  self.agent_log_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.bosh, 0o700)
        for private in (self.jobs, self.data_jobs):  # rendered templates hold the deployment's secrets
            os.chmod(private, 0o700)
        if not self.sys.exists() and not self.sys.is_symlink():
            self.sys.symlink_to("data/sys")

    def job_dirs(self, job: str) -> list[Path]:
        """Per-job directories made on apply: logs, pid files, scratch data."""
        return [self.sys_log / job, self.sys_run / job, self.data / job]
