"""A real UAA for the uaa job's tests: the job's template rendered by bosh-py's own renderer,
the python3-cryptography package built by its own packaging script from the same .deb blobs
the VMs get, and the server run as the VM runs it: the system python3 with ``-S`` (no
site-packages), so only the standard library, cf_platform and the shipped package are
importable. Loopback only; every process is stopped by PID."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bosh_py.release import JobForRender, read_release_dir, render_instance_jobs
from tests.harness import free_port, wait_until

REPO = Path(__file__).resolve().parents[3]
UAA_RELEASE = REPO / "releases" / "uaa"
BLOBS = UAA_RELEASE / "blobs" / "python3-cryptography"
CF_PLATFORM_SRC = REPO / "releases" / "cf_platform" / "src"
SYSTEM_PYTHON = "/usr/bin/python3"

ADMIN_PASSWORD = "admin-pw-Qx7-not-in-logs"
ADMIN_CLIENT_SECRET = "admin-client-secret-Zr9-not-in-logs"


def new_signing_key() -> str:
    """A fresh 2048-bit RSA key in PEM, as the director generates a variable of type rsa."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def build_package(into: Path) -> Path:
    """Run the python3-cryptography package's packaging script on its blobs (fetched by
    scripts/prepare-uaa-blobs when missing); returns the install target."""
    if not sorted(BLOBS.glob("python3-cryptography.deb")):
        subprocess.run([str(REPO / "scripts" / "prepare-uaa-blobs")], check=True, capture_output=True)
    compile_dir, install = into / "compile", into / "install"
    (compile_dir / "python3-cryptography").mkdir(parents=True)
    install.mkdir()
    for deb in BLOBS.glob("*.deb"):
        shutil.copy(deb, compile_dir / "python3-cryptography" / deb.name)
    packaging = UAA_RELEASE / "packages" / "python3-cryptography" / "packaging"
    subprocess.run(["bash", str(packaging)], cwd=compile_dir, check=True, capture_output=True,
                   env={**os.environ, "BOSH_INSTALL_TARGET": str(install), "BOSH_COMPILE_TARGET": str(compile_dir)})
    return install


def render_job(properties: dict, ip: str = "127.0.0.1", links: dict | None = None) -> dict[str, str]:
    """The uaa job's rendered files (config/uaa.json, monit); ``links``: what it consumes (nats)."""
    job = read_release_dir(UAA_RELEASE).jobs["uaa"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "uaa", "id": "uaa-uuid-0", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": ip, "default": ["dns", "gateway"]}}}
    rendered = render_instance_jobs(
        [JobForRender("uaa", job.spec, (job.directory / "monit").read_text(), templates, properties,
                      release={"name": "uaa", "version": "0+dev.1"})],
        spec, {"uaa": links or {}})
    return dict(rendered.files["uaa"])


def job_properties(data_dir: Path, port: int, signing_key: str, **uaa: Any) -> dict:
    """The properties deployments/cf.yml gives the uaa job, on loopback."""
    jwt = {"signing_key": signing_key, **uaa.pop("jwt", {})}
    return {"uaa": {"port": port, "listen_address": "127.0.0.1", "data_dir": str(data_dir),
                    "admin": {"client_secret": ADMIN_CLIENT_SECRET}, "jwt": jwt,
                    "scim": {"users": [{"name": "admin", "password": ADMIN_PASSWORD,
                                        "groups": ["cloud_controller.admin", "cloud_controller.read",
                                                   "cloud_controller.write", "openid", "scim.read",
                                                   "scim.write"]}]},
                    **uaa}}


@dataclass
class UaaProcess:
    proc: subprocess.Popen
    url: str
    log_path: Path
    config_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after 5 s."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def uaa_command(config: Path, package: Path) -> tuple[list[str], dict[str, str]]:
    """How the job's monit runs the server, with this host's paths: the cf-platform package
    holds cf_platform and nats-py (linked beside the config, as vm_python does for the CC)."""
    vendored = config.parent / "vendored"
    vendored.mkdir(exist_ok=True)
    if not (vendored / "nats").exists():
        (vendored / "nats").symlink_to(Path(nats.__file__).parent, target_is_directory=True)
    pythonpath = f"{CF_PLATFORM_SRC}:{vendored}:{package}/usr/lib/python3/dist-packages"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1"}
    return [SYSTEM_PYTHON, "-S", "-m", "cf_platform.uaa", "--config", str(config)], env


def start_uaa(workdir: Path, package: Path, signing_key: str | None = None, port: int | None = None,
              links: dict | None = None, extra_properties: dict | None = None, **uaa: Any) -> UaaProcess:
    """``extra_properties``: beside ``uaa`` (``nats``: the job's own NATS user)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    properties = {**job_properties(workdir / "store", port, signing_key or new_signing_key(), **uaa),
                  **(extra_properties or {})}
    files = render_job(properties, links=links)
    config = workdir / "uaa.json"
    config.write_text(files["config/uaa.json"])
    config.chmod(0o600)
    log_path = workdir / "uaa.log"
    argv, env = uaa_command(config, package)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    process = UaaProcess(proc, f"http://127.0.0.1:{port}", log_path, config)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"uaa exited with {proc.returncode}:\n{process.log()}")
        try:
            return httpx.get(f"{process.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    status = json.loads(files["config/uaa.json"]).get("status")

    def status_port_open() -> bool:   # it opens right after the API's
        try:
            socket.create_connection((status["listen_address"], status["port"]), timeout=1).close()
            return True
        except OSError:
            return proc.poll() is not None
    try:
        wait_until(healthy, timeout=30, message="uaa answers /healthz")
        if status:
            wait_until(status_port_open, timeout=15, message="uaa's status port")
    except BaseException:
        process.stop()
        raise
    return process


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def password_grant(http: httpx.Client, user: str, password: str, client: str = "cf",
                   secret: str = "", **form: str) -> httpx.Response:
    return http.post("/oauth/token", headers=basic(client, secret),
                     data={"grant_type": "password", "username": user, "password": password, **form})


def client_token(http: httpx.Client, client: str = "admin", secret: str = ADMIN_CLIENT_SECRET) -> str:
    response = http.post("/oauth/token", headers=basic(client, secret), data={"grant_type": "client_credentials"})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def jwt_parts(token: str) -> tuple[dict, dict, bytes]:
    def unb64(s: str) -> bytes:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    header, claims, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(claims)), unb64(signature)


def create_user(http: httpx.Client, admin_token: str, name: str, password: str) -> dict:
    response = http.post("/Users", headers=bearer(admin_token),
                         json={"userName": name, "password": password, "emails": [{"value": f"{name}@example.org"}]})
    assert response.status_code == 201, response.text
    return response.json()
