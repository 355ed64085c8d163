"""A real director whose default CPI is the dummy one (cpi/dummy): VMs are plain agent
processes, so deploys need no root, no namespace and take seconds.

    with dummy_director(tmp_path) as d:          # or the ``dummy_director`` pytest fixture
        d.cli("deploy", "-d", "dummy", str(d.manifest(instances=3)))
        d.vms()                                  # the dummy CPI's own view (list)
        d.fail_next("create_vm", "VMCreationFailed")

Everything it starts (director, NATS, agents, job processes) is stopped at the end, by PID,
also when the test fails."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bosh_py.director.models import Task
from tests.harness import BIN, REPO, free_port, wait_until

RELEASE = "dummy-test"
JOB = "looper"
DEPLOYMENT = "dummy"
# Dummy VMs are host processes and bind nothing on these IPs; they are loopback addresses
# so that anything that still tried to reach a "VM" (ssh, a probe) stays on this machine.
CLOUD_CONFIG = {
    "azs": [{"name": "z1"}, {"name": "z2"}],
    "vm_types": [{"name": "default", "cloud_properties": {}}],
    "disk_types": [{"name": "default", "disk_size": 64}],
    "networks": [{"name": "default", "type": "manual", "subnets": [
        {"range": "127.254.0.0/24", "gateway": "127.254.0.1", "azs": ["z1", "z2"],
         "reserved": ["127.254.0.2 - 127.254.0.9"]}]}],
    "compilation": {"workers": 1, "az": "z1", "vm_type": "default", "network": "default"},
}
LOOP = "while :; do echo tick >> /dev/null; sleep 1; done"


def stemcell_tarball(path: Path) -> Path:
    """A stemcell the dummy CPI takes: stemcell.MF and a one-line image."""
    manifest = yaml.safe_dump({"name": "bosh-py-dummy-stemcell", "version": "1",
                               "operating_system": "debian-bookworm", "stemcell_formats": ["dummy"],
                               "cloud_properties": {}}).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in (("stemcell.MF", manifest), ("image", b"dummy image\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_test_release(root: Path) -> Path:
    """Release ``dummy-test``: job ``looper`` whose one process is a shell loop, no packages
    (nothing to compile); each lifecycle script appends its name to the job's data dir."""
    job_dir = root / "jobs" / JOB
    (job_dir / "templates").mkdir(parents=True, exist_ok=True)
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config/final.yml").write_text(f"name: {RELEASE}\n")
    templates = {"looper.conf": "config/looper.conf"}
    (job_dir / "templates/looper.conf").write_text("greeting={{ p('greeting') }}\n")
    spec = {"name": JOB, "templates": templates, "packages": [],
            "properties": {"greeting": {"default": "hello"}}}
    (job_dir / "spec").write_text(yaml.safe_dump(spec))
    (job_dir / "monit").write_text(yaml.safe_dump({"processes": [
        {"name": JOB, "executable": "/bin/sh", "args": ["-c", LOOP]}]}))
    return root


def manifest(instances: int = 3, greeting: str = "hello", persistent_disk: int = 0) -> dict[str, Any]:
    group: dict[str, Any] = {
        "name": "loop", "azs": ["z1", "z2"], "instances": instances, "vm_type": "default", "stemcell": "default",
        "networks": [{"name": "default"}],
        "jobs": [{"name": JOB, "release": RELEASE, "properties": {"greeting": greeting}}]}
    if persistent_disk:
        group["persistent_disk"] = persistent_disk
    return {
        "name": DEPLOYMENT,
        "releases": [{"name": RELEASE, "version": "latest"}],
        "stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}],
        "update": {"canaries": 1, "max_in_flight": 3, "canary_watch_time": "100-5000",
                   "update_watch_time": "100-5000"},
        "instance_groups": [group],
    }


@dataclass
class DummyDirector:
    """A running director on the dummy CPI; ``cli`` runs the real ``bosh-py`` against it."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # more of director.json (db_url, lock_ttl, ...)

    @property
    def data_dir(self) -> Path:
        return self.root / "director"

    @property
    def state_dir(self) -> Path:
        """The dummy CPI's state: vms/<cid>/ (agent roots), disks/, state.json, failures.json."""
        return self.root / "dummy"

    @property
    def cpi_config(self) -> Path:
        return self.root / "dummy-cpi.json"

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(BIN / "bosh-py"), *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, cwd=REPO, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"bosh-py {' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def cpi(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "bosh-py-cpi-dummy"), *args, str(self.cpi_config)],
                              capture_output=True, text=True, timeout=60, check=False)

    def vms(self) -> dict[str, dict[str, Any]]:
        """The dummy CPI's VMs: cid -> {agent_id, pid, alive, disks}."""
        return json.loads(self.cpi("list").stdout)["vms"]

    def manifest(self, **kwargs: Any) -> Path:
        path = self.root / "manifest.yml"
        path.write_text(yaml.safe_dump(manifest(**kwargs)))
        return path

    def fail_next(self, method: str, error_type: str = "CloudError", times: int | None = 1,
                  message: str | None = None) -> None:
        """Make the dummy CPI answer ``method`` with ``error_type`` (``times`` calls; None: all)."""
        path = self.state_dir / "failures.json"
        failures = json.loads(path.read_text()) if path.exists() else {}
        entry: dict[str, Any] = {"type": error_type}
        if times is not None:
            entry["times"] = times
        if message:
            entry["message"] = message
        failures[method] = entry
        path.write_text(json.dumps(failures))

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        self.cpi_config.write_text(json.dumps({"state_dir": str(self.state_dir), "agent_host_rewrite": "127.0.0.1"}))
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # loopback only: nothing this director serves is reachable from another machine
        (self.data_dir / "director.json").write_text(json.dumps({
            "data_dir": str(self.data_dir), "nats_listen_host": "127.0.0.1", "blobstore_listen_host": "127.0.0.1",
            "heartbeat_interval": 1.0, "agent_wait_timeout": 30, **self.config}))
        self.env = {**os.environ, "BOSH_PY_CONFIG": str(self.root / "cli.json"),
                    "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        self.cli("director", "start", "--data-dir", str(self.data_dir), "--api-port", str(free_port()),
                 "--nats-port", str(free_port()), "--blobstore-port", str(free_port()),
                 "--agent-endpoint-host", "127.0.0.1", "--cpi", str(BIN / "bosh-py-cpi-dummy"),
                 "--cpi-config", str(self.cpi_config))
        self.url = json.loads((self.root / "cli.json").read_text())["url"]
        self.cli("update-cloud-config", str(self._write("cloud-config.yml", CLOUD_CONFIG)))
        self.cli("upload-stemcell", str(stemcell_tarball(self.root / "stemcell.tgz")))
        self.cli("upload-release", str(write_test_release(self.root / "release")))

    def _write(self, name: str, doc: Any) -> Path:
        path = self.root / name
        path.write_text(yaml.safe_dump(doc))
        return path

    def stop(self) -> list[str]:
        """Stop the director, then every dummy VM; what was left (empty when clean)."""
        problems: list[str] = []
        try:
            self.cli("director", "stop", "--data-dir", str(self.data_dir), check=False, timeout=60)
        finally:
            if self.cpi_config.exists():
                result = self.cpi("cleanup")
                if result.returncode != 0:
                    problems.append(result.stderr.strip())
            log = self.data_dir / "director.log"
            if log.exists():  # kept for the post-mortem of a failed run
                shutil.copy(log, Path(tempfile.gettempdir()) / f"bosh-py-dummy-director-{self.root.name}.log")
            shutil.rmtree(self.root, ignore_errors=True)
        return problems


def start_slow_deploy(director: DummyDirector, watch_ms: int, **manifest_args: Any) -> subprocess.Popen:
    """`bosh-py deploy` in the background of a manifest whose canary is watched ``watch_ms``:
    a task that outlives what the test does meanwhile. Its output is piped, as text."""
    slow = manifest(**manifest_args)
    slow["update"]["canary_watch_time"] = f"{watch_ms}-{watch_ms}"
    path = director.root / "slow.yml"
    path.write_text(yaml.safe_dump(slow))
    return subprocess.Popen([str(BIN / "bosh-py"), "deploy", "-n", str(path)], env=director.env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_task_state(sessions: Any, task_id: int, state: str, timeout: float) -> Task:
    """The task's row once it is in ``state``."""
    def reached() -> Task | None:
        with sessions() as session:
            task = session.get(Task, task_id)
            return task if task is not None and task.state == state else None

    return wait_until(reached, timeout, message=f"task {task_id} to be {state}")


@contextlib.contextmanager
def dummy_director(root: Path) -> Iterator[DummyDirector]:
    """A started director on the dummy CPI with cloud-config, stemcell and release
    ``dummy-test`` uploaded; stopped and cleaned up at the end, also on failure."""
    director = DummyDirector(Path(root) / "dd")
    try:
        director.start()
        yield director
    finally:
        director.stop()
