"""The router as it runs on a VM: in the local stemcell's root file system (through an
overlay, so the cached stemcell is never written), the nginx package is built by its own
packaging script from the blobs, the job's templates are rendered, and the control plane
runs on the stemcell's python3 with only the standard library and the vendored nats-py.

Needs root (mount, chroot). The stemcell's root file system and the nginx blob are made
here when missing (a fresh CI machine runs tests/cf before any VM test has built the
stemcell), never skipped: the same builders as scripts/setup (bosh_py.stemcell.local,
scripts/prepare-cf-router-blobs)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from bosh_py.release import JobForRender, read_release_dir, render_instance_jobs
from bosh_py.stemcell.local import apt_mirror, cached_rootfs
from tests.harness import STEMCELL_CACHE

from .helpers import (REPO, free_port, pid_alive, start_backend, stop_pid, wait_for_port,
                      wait_until)

ROUTER = REPO / "releases" / "router"
CF_PLATFORM = REPO / "releases" / "cf_platform"
NGINX_BLOBS = ROUTER / "blobs" / "nginx"


def _ensure_rootfs() -> Path:
    """The stemcell's root file system (STEMCELL_ROOTFS, or the cached one, built if missing)."""
    if os.environ.get("STEMCELL_ROOTFS"):
        return Path(os.environ["STEMCELL_ROOTFS"])
    return cached_rootfs(STEMCELL_CACHE, apt_mirror())


def _ensure_nginx_blob(rootfs: Path) -> None:
    if not list(NGINX_BLOBS.glob("*.deb")):
        subprocess.run([str(REPO / "scripts" / "prepare-cf-router-blobs")], check=True,
                       env={**os.environ, "STEMCELL_ROOTFS": str(rootfs)})


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def stemcell_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (overlay mount, chroot)")
    rootfs = _ensure_rootfs()
    assert (rootfs / "usr" / "bin" / "python3").exists(), f"no python3 in the stemcell at {rootfs}"
    _ensure_nginx_blob(rootfs)
    assert list(NGINX_BLOBS.glob("*.deb")), "scripts/prepare-cf-router-blobs made no nginx blob"
    base = Path(tempfile.mkdtemp(prefix="cf-router-stemcell-"))
    upper, work, merged = base / "upper", base / "work", base / "root"
    for d in (upper, work, merged):
        d.mkdir()
    mounted: list[Path] = []
    try:
        _mount("-t", "overlay", "overlay", "-o", f"lowerdir={rootfs},upperdir={upper},workdir={work}",
               str(merged))
        mounted.append(merged)
        _mount("-t", "proc", "proc", str(merged / "proc"))
        mounted.append(merged / "proc")
        yield merged
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", str(path)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _chroot(root: Path, script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(root), "/bin/bash", "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **(env or {})})


def _install_packages(root: Path) -> None:
    # nginx: the package's files and packaging script, as the compiler lays them out.
    compile_dir = root / "var/vcap/data/compile/nginx"
    (compile_dir / "nginx").mkdir(parents=True)
    for deb in NGINX_BLOBS.glob("*.deb"):
        shutil.copy(deb, compile_dir / "nginx" / deb.name)
    shutil.copy(ROUTER / "packages/nginx/packaging", compile_dir / "packaging")
    (root / "var/vcap/packages/nginx").mkdir(parents=True)
    built = _chroot(root, "set -e; cd /var/vcap/data/compile/nginx; bash ./packaging",
                    {"BOSH_COMPILE_TARGET": "/var/vcap/data/compile/nginx",
                     "BOSH_INSTALL_TARGET": "/var/vcap/packages/nginx"})
    assert built.returncode == 0, built.stdout + built.stderr
    assert "nginx version: nginx/" in built.stderr
    # cf-platform: what the lead's package installs (cf_platform + nats-py under lib/).
    lib = root / "var/vcap/packages/cf-platform/lib"
    lib.mkdir(parents=True)
    shutil.copytree(CF_PLATFORM / "src/cf_platform", lib / "cf_platform",
                    ignore=shutil.ignore_patterns("__pycache__"))
    import nats
    shutil.copytree(Path(nats.__file__).parent, lib / "nats", ignore=shutil.ignore_patterns("__pycache__"))


def _render_job(root: Path, props: dict) -> tuple[list[str], dict[str, str]]:
    job = read_release_dir(ROUTER).jobs["router"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    spec = {"deployment": "cf", "name": "router", "id": "stemcell-router", "index": 0, "az": "z1",
            "bootstrap": True, "networks": {"default": {"ip": "127.0.0.1", "default": ["gateway"]}}}
    rendered = render_instance_jobs(
        [JobForRender("router", job.spec, (job.directory / "monit").read_text(), templates, props)], spec)
    for path, text in rendered.files["router"].items():
        dest = root / "var/vcap/jobs/router" / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    [process] = yaml.safe_load(rendered.files["router"]["monit"])["processes"]
    return [process["executable"], *process["args"]], process.get("env", {})


def test_router_runs_in_the_stemcell(stemcell_root, nats_server, nats_client):
    root = stemcell_root
    _install_packages(root)
    port, status_port = free_port(), free_port()
    command, env = _render_job(root, {
        "nats": {"machines": ["127.0.0.1"], "port": nats_server.port, "user": nats_server.user,
                 "password": nats_server.password},
        "router": {"listen_address": "127.0.0.1", "port": port, "worker_processes": "2",
                   "status": {"listen_address": "127.0.0.1", "port": status_port, "user": "admin",
                              "password": "pw"}}})
    log_dir = root / "var/vcap/sys/log/router"
    log_dir.mkdir(parents=True)
    backend = start_backend("stemcell-backend", "127.0.0.2")
    proc = subprocess.Popen(["chroot", str(root), *command], stdin=subprocess.DEVNULL,
                            stdout=open(log_dir / "router.stdout.log", "wb"),
                            stderr=open(log_dir / "router.stderr.log", "wb"),
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **env})
    nginx_pid_file = root / "var/vcap/data/router/nginx/nginx.pid"
    nginx_pid = None
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
        # nginx creates its pid file before it writes the pid in it
        nginx_pid = int(wait_until(lambda: nginx_pid_file.exists() and nginx_pid_file.read_text().strip(), 10,
                                   message="nginx's pid in its pid file"))
        # nginx really is the package's binary, with the stemcell's libraries
        exe = os.readlink(f"/proc/{nginx_pid}/exe")
        assert exe.endswith("/var/vcap/packages/nginx/usr/sbin/nginx"), exe
        def announced() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", status_port, timeout=5)
            try:
                conn.request("GET", "/varz", headers={"Authorization": "Basic YWRtaW46cHc="})  # admin:pw
                return json.loads(conn.getresponse().read())["nats"]["announcements"] >= 1
            except OSError:  # the status port opens just after nginx's
                return False
            finally:
                conn.close()

        wait_until(announced, 15, message="router.start (subscriptions in place)")
        nats_client.publish("router.register", {"host": backend.host, "port": backend.port,
                                                "uris": ["stemcell.example.com"], "app": "app"})

        def through_router() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/", headers={"Host": "stemcell.example.com"})
                response = conn.getresponse()
                body = response.read()
                return response.status == 200 and json.loads(body)["backend"] == backend.name
            finally:
                conn.close()

        wait_until(through_router, 15, message="a request through the router in the stemcell")
        conn = http.client.HTTPConnection("127.0.0.1", status_port, timeout=5)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        conn.close()
    except BaseException:
        print((log_dir / "router.stderr.log").read_text(errors="replace"))
        raise
    finally:
        stop_pid(proc, grace=15)
        backend.stop()
        if nginx_pid is not None and pid_alive(nginx_pid):
            os.kill(nginx_pid, 9)
            pytest.fail("nginx outlived the router")
    assert proc.returncode == 0, (log_dir / "router.stderr.log").read_text()
