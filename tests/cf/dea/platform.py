"""A whole classic Cloud Foundry from real processes, for the evacuation tests: nats-server with
deployments/cf.yml's users and permissions (plus a watcher user for the test), the cloud
controller, the health manager, a router (nginx) and DEAs, each DEA in a network namespace
of its own standing in for its VM (tests/cf/dea/helpers.DeaNetns).

Addresses: NATS and the CC listen on the host end of the first DEA's veth pair; the other
DEAs' namespaces get a /32 route to it through their own host end (a local address of the
host, so nothing is forwarded). The router and the load generator use loopback. Every
process is ended by its PID.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from tests.cf.cc.plumbing import NATS_SERVER, CcProcess, end_process, vm_python
from tests.harness import free_port, wait_until

from .helpers import DeaNetns

REPO = Path(__file__).resolve().parents[3]
CF_MANIFEST = REPO / "deployments" / "cf.yml"
WATCHER = "test-watcher"       # the test's own observer: every subject (not a cf.yml user)


@dataclass
class CfNats:
    """nats-server with cf.yml's users; ``creds(name)`` is one component's user and password."""
    host: str
    port: int
    passwords: dict[str, str]
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def creds(self, user: str) -> dict[str, Any]:
        return {"servers": [self.url], "user": user, "password": self.passwords[user]}

    def as_user(self, user: str) -> SimpleNamespace:
        """``url``, ``user``, ``password`` of one user: what the CC/HM/router test starters take."""
        return SimpleNamespace(url=self.url, user=user, password=self.passwords[user])

    def connect_options(self, user: str = WATCHER) -> dict[str, Any]:
        return {"servers": [self.url], "user": user, "password": self.passwords[user]}

    def stop(self) -> None:
        end_process(self.proc)


def cf_nats_users() -> list[dict[str, Any]]:
    """The ``nats.users`` of cf.yml's nats instance group, as the deployment gives them."""
    manifest = yaml.safe_load(CF_MANIFEST.read_text())
    for group in manifest["instance_groups"]:
        for job in group.get("jobs") or []:
            users = ((job.get("properties") or {}).get("nats") or {}).get("users")
            if job.get("name") == "nats" and users:
                return users
    raise AssertionError(f"{CF_MANIFEST}: no nats job with nats.users")


def start_cf_nats(workdir: Path, host: str) -> CfNats:
    """nats-server's JSON config from cf.yml's users (passwords drawn here, permissions kept)."""
    passwords = {WATCHER: secrets.token_urlsafe(16)}
    users = [{"user": WATCHER, "password": passwords[WATCHER]}]
    for entry in cf_nats_users():
        passwords[entry["user"]] = secrets.token_urlsafe(16)
        user = {"user": entry["user"], "password": passwords[entry["user"]]}
        rules = entry.get("permissions") or {}
        permissions: dict[str, Any] = {}
        for key in ("publish", "subscribe"):
            if key in rules:
                value = rules[key]
                permissions[key] = value if isinstance(value, dict) else {"allow": value}
        if "allow_responses" in rules:
            permissions["allow_responses"] = rules["allow_responses"]
        if permissions:
            user["permissions"] = permissions
        users.append(user)
    port = free_port(host)
    path = workdir / "nats.json"
    path.write_text(json.dumps({"listen": f"{host}:{port}", "authorization": {"users": users}}))
    path.chmod(0o600)
    log = open(workdir / "nats-server.log", "ab")
    proc = subprocess.Popen([str(NATS_SERVER), "-c", str(path)], stdout=log, stderr=log)
    try:
        wait_until(lambda: _connects(host, port) or proc.poll() is not None, 15, message="nats-server to listen")
        if proc.poll() is not None:
            raise RuntimeError("nats-server refused cf.yml's users:\n" +
                               (workdir / "nats-server.log").read_text(errors="replace"))
    except BaseException:
        end_process(proc)
        raise
    return CfNats(host, port, passwords, proc)


def _connects(host: str, port: int) -> bool:
    import socket
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start_cc_on(workdir: Path, nats_: CfNats, host: str, **overrides: Any) -> CcProcess:
    """The cloud controller as its job runs it, as cf.yml's ``cloud_controller`` NATS user,
    listening on ``host`` (where the DEAs reach it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port(host)
    config = {
        "port": port, "bind": host, "external_host": host, "domain": "apps.test",
        "users": {"admin": "admin-secret"}, "token_secret": secrets.token_hex(16),
        "internal_api": {"user": "internal", "password": secrets.token_urlsafe(12)},
        "data_dir": str(workdir / "store"), "staging_timeout": 100, "discover_timeout": 1.0,
        "find_timeout": 0.5, "log_level": "INFO", "nats": nats_.creds("cloud_controller"), **overrides}
    path = workdir / "cc.json"
    path.write_text(json.dumps(config))
    log_path = workdir / "cc.log"
    python, env = vm_python(workdir)
    proc = subprocess.Popen([*python, "-m", "cf_platform.cloud_controller", "--config", str(path)],
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, env=env)
    try:
        wait_until(lambda: _connects(host, port) or proc.poll() is not None, 20, message="the CC to listen")
        if proc.poll() is not None:
            raise RuntimeError("the cloud controller did not start:\n" + log_path.read_text(errors="replace"))
    except BaseException:
        end_process(proc)
        raise
    return CcProcess(f"http://{host}:{port}", port, config, path, proc, log_path)


def route_to(netns: DeaNetns, target: DeaNetns) -> None:
    """Let ``netns`` reach ``target.host_ip`` (NATS, the CC) through its own host end."""
    subprocess.run(["ip", "-n", netns.name, "route", "add", f"{target.host_ip}/32", "via", netns.host_ip],
                   check=True, capture_output=True)


def dea_config(index: int, base: Path, nats_: CfNats, netns: DeaNetns, port_start: int,
               **overrides: Any) -> dict:
    """A DEA as cf.yml's ``dea`` NATS user, with test-sized timers."""
    config = {
        "id": f"{index}-{secrets.token_hex(8)}", "index": index, "ip": netns.dea_ip,
        "nats": nats_.creds("dea"), "base_dir": str(base / "data"),
        "buildpacks_dir": str(REPO / "releases" / "dea" / "src" / "buildpacks"),
        "memory_mb": 1024, "disk_mb": 8192, "port_range_start": port_start, "port_range_end": port_start + 19,
        "heartbeat_interval": 1, "advertise_interval": 1, "router_register_interval": 2,
        "health_check_timeout": 20, "stop_timeout": 3, "crash_lifetime": 60, "evacuation_timeout": 60,
        "cgroup_parent": f"dea-evac-{secrets.token_hex(4)}", "container_uid_base": 42000,
        "require_cgroups": True, "log_level": "info"}
    config.update(overrides)
    return config
