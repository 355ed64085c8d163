"""The real nats release: it builds, renders a 3-instance cluster through its own link,
nats-server accepts every config, and the three servers really form a cluster."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from bosh_py.release import (JobForRender, create_release, link_from_provider, open_release_tarball,
                             read_release_dir, render_instance_jobs, validate_job_properties)

from .conftest import NATS_RELEASE, REPO, VENV_BIN

NATS_SERVER = VENV_BIN / "nats-server"
SCRIPT = REPO / "scripts" / "prepare-release-blobs"
pytestmark = pytest.mark.skipif(not NATS_SERVER.exists(), reason="nats-server binary not installed in .venv")


@pytest.fixture
def nats_release(tmp_path: Path) -> Path:
    """A copy of releases/nats with its blob prepared by the real script."""
    root = tmp_path / "nats"
    shutil.copytree(NATS_RELEASE, root, ignore=shutil.ignore_patterns("blobs", "dev_releases", ".dev_builds"))
    subprocess.run([SCRIPT, root], check=True, capture_output=True)
    return root


def test_prepare_release_blobs_is_idempotent(tmp_path):
    root = tmp_path / "rel"
    first = subprocess.run([SCRIPT, root], check=True, capture_output=True, text=True)
    blob = root / "blobs/nats-server/nats-server"
    assert "copied" in first.stdout and blob.read_bytes() == NATS_SERVER.read_bytes()
    assert blob.stat().st_mode & 0o111
    second = subprocess.run([SCRIPT, root], check=True, capture_output=True, text=True)
    assert "up to date" in second.stdout


def test_release_reads_and_builds(nats_release, tmp_path):
    src = read_release_dir(nats_release)
    assert src.name == "nats" and list(src.jobs) == ["nats"] and list(src.packages) == ["nats-server"]
    assert [f.archive_path for f in src.packages["nats-server"].files] == ["packaging", "nats-server/nats-server"]
    assert all(d.description for d in src.jobs["nats"].spec.properties.values())
    created = create_release(nats_release)
    assert created.version == "0+dev.1"
    manifest = open_release_tarball(created.tarball, tmp_path / "upload")
    assert [p.name for p in manifest.packages] == ["nats-server"]


def _render_cluster(addresses: list[str], props: dict) -> list[str]:
    job = read_release_dir(NATS_RELEASE).jobs["nats"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    instances = [{"name": "nats", "id": f"uuid-{i}", "index": i, "az": "z1", "address": a, "bootstrap": i == 0}
                 for i, a in enumerate(addresses)]
    link = link_from_provider(job.spec, props, "nats", instances, deployment="cf")
    configs = []
    for i, address in enumerate(addresses):
        spec = {"deployment": "cf", "name": "nats", "id": f"uuid-{i}", "index": i, "az": "z1",
                "bootstrap": i == 0, "networks": {"default": {"ip": address, "default": ["dns", "gateway"]}}}
        rendered = render_instance_jobs(
            [JobForRender("nats", job.spec, (job.directory / "monit").read_text(), templates, props)],
            spec, {"nats": {"nats": link}})
        monit = yaml.safe_load(rendered.files["nats"]["monit"])
        assert monit["processes"] == [{"name": "nats",
                                       "executable": "/var/vcap/packages/nats-server/bin/nats-server",
                                       "args": ["-c", "/var/vcap/jobs/nats/config/nats.conf"]}]
        configs.append(rendered.files["nats"]["config/nats.conf"])
    return configs


def test_three_instances_render_valid_configs_with_routes_to_the_others(tmp_path):
    addresses = ["10.244.0.2", "10.244.0.3", "10.244.0.4"]
    props = {"nats": {"user": "nats", "password": 'p"a\\ss$word{}', "debug": True}}
    for i, text in enumerate(_render_cluster(addresses, props)):
        path = tmp_path / f"nats-{i}.conf"
        path.write_text(text)
        check = subprocess.run([NATS_SERVER, "-c", path, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout + text
        routes = sorted(line.strip().strip('"') for line in text.splitlines() if "nats-route://" in line)
        assert routes == [f"nats-route://{a}:4223" for a in addresses if a != addresses[i]]
        assert f'listen: "{addresses[i]}:4222"' in text and "debug: true" in text


def test_property_types_are_checked():
    spec = read_release_dir(NATS_RELEASE).jobs["nats"].spec
    errors = validate_job_properties(spec, {"nats": {"port": "4222", "debug": "no"}},
                                     "instance_groups/nats/jobs/0/properties")
    assert errors == ["instance_groups/nats/jobs/0/properties/nats.debug: expected boolean",
                      "instance_groups/nats/jobs/0/properties/nats.port: expected integer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rendered_cluster_really_clusters(tmp_path):
    """Three nats-servers on loopback addresses form a full mesh from the rendered configs."""
    addresses = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    props = {"nats": {"port": _free_port(), "cluster_port": _free_port(), "http_port": _free_port(),
                      "cluster_user": "route", "cluster_password": "s3cr3t/+@"}}
    procs = []
    try:
        for i, text in enumerate(_render_cluster(addresses, props)):
            path = tmp_path / f"nats-{i}.conf"
            path.write_text(text)
            log = open(tmp_path / f"nats-{i}.log", "w")
            procs.append(subprocess.Popen([NATS_SERVER, "-c", path], stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 15
        counts: list[int] = []
        while time.monotonic() < deadline:
            try:
                counts = []
                for a in addresses:
                    url = f"http://{a}:{props['nats']['http_port']}/routez"
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        counts.append(len({r["remote_id"] for r in json.load(resp)["routes"]}))
                if counts == [2, 2, 2]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        logs = "\n".join((tmp_path / f"nats-{i}.log").read_text() for i in range(3))
        assert counts == [2, 2, 2], logs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_user_without_password_is_a_render_error():
    from bosh_py.release import RenderError
    with pytest.raises(RenderError, match=r"job 'nats' template 'nats.conf.j2' line \d+: Can't find property 'nats.password'"):
        _render_cluster(["10.0.0.1"], {"nats": {"user": "alone"}})


def test_single_instance_without_link_has_no_routes(tmp_path):
    job = read_release_dir(NATS_RELEASE).jobs["nats"]
    templates = {src: (job.directory / "templates" / src).read_text() for src in job.spec.templates}
    rendered = render_instance_jobs(
        [JobForRender("nats", job.spec, (job.directory / "monit").read_text(), templates, {})],
        {"deployment": "d", "name": "nats", "id": "u", "index": 0, "networks": {}}, {})
    text = rendered.files["nats"]["config/nats.conf"]
    assert 'listen: "0.0.0.0:4222"' in text and "nats-route://" not in text
    assert not any(line.strip().startswith("authorization") for line in text.splitlines())
    path = tmp_path / "nats.conf"
    path.write_text(text)
    subprocess.run([NATS_SERVER, "-c", path, "-t"], check=True, capture_output=True)
