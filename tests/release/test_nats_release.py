"""The real nats release: it builds, renders a 3-instance cluster through its own link,
nats-server accepts every config, and the three servers really form a cluster over
authenticated routes; bad client users fail the render naming the property."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import nats
import pytest
import yaml

from bosh_py.release import (JobForRender, create_release, link_from_provider, open_release_tarball,
                             read_release_dir, render_instance_jobs, validate_job_properties)

from tests.harness import free_port

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
    props = {"nats": {"user": "nats", "password": 'p"a\\ss$word{}', "debug": True,
                      "cluster_password": "r/o:u@te"}}
    for i, text in enumerate(_render_cluster(addresses, props)):
        path = tmp_path / f"nats-{i}.conf"
        path.write_text(text)
        check = subprocess.run([NATS_SERVER, "-c", path, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr + check.stdout + text
        routes = sorted(line.strip().strip('"') for line in text.splitlines() if "nats-route://" in line)
        assert routes == [f"nats-route://route:r%2Fo%3Au%40te@{a}:4223" for a in addresses if a != addresses[i]]
        assert f'listen: "{addresses[i]}:4222"' in text and "debug: true" in text
        assert 'http: "127.0.0.1:8222"' in text, "monitoring on the VM's loopback only"


def test_peers_without_cluster_password_is_a_render_error():
    """Routes always authenticate: a cluster without a route password does not render."""
    from bosh_py.release import RenderError
    with pytest.raises(RenderError, match=r"nats\.cluster_password \(required: this instance has cluster peers"):
        _render_cluster(["10.244.0.2", "10.244.0.3"], {"nats": {"user": "nats", "password": "p"}})


@pytest.mark.parametrize("users, problem", [
    ({"user": "dea"}, r"'nats\.users \(expected a list of \{user, password, permissions\}\)'"),
    ([{"user": "dea"}], r"'nats\.users\[0\]\.password \(a non-empty string is required\)'"),
    ([{"user": "a", "password": "p"}, {"user": "a", "password": "q"}], r"'nats\.users\[1\]\.user \(user 'a' is already defined\)'"),
    ([{"user": "a", "password": "p", "permissions": {"pub": ["x"]}}], r"'nats\.users\[0\]\.permissions\.pub \(unknown key"),
    ([{"user": "a", "password": "p", "permissions": {"publish": ["x y"]}}],
     r"'nats\.users\[0\]\.permissions\.publish\[0\] \(expected a subject"),
    ([{"user": "a", "password": "p", "permissions": {"subscribe": {"allow": 3}}}],
     r"'nats\.users\[0\]\.permissions\.subscribe\.allow \(expected a list of subjects\)'"),
    ([{"user": "a", "password": "p", "permissions": {"allow_responses": {"max": 0}}}],
     r"'nats\.users\[0\]\.permissions\.allow_responses\.max \(expected a positive integer\)'"),
])
def test_bad_users_are_render_errors_naming_the_property(users, problem):
    from bosh_py.release import RenderError
    with pytest.raises(RenderError, match=problem):
        _render_cluster(["10.244.0.2"], {"nats": {"users": users}})


def test_users_render_with_their_permissions(tmp_path):
    users = [{"user": "dea", "password": 'd"e\\a', "permissions": {
        "publish": ["router.register"], "subscribe": {"allow": ["dea.*.start"], "deny": ["dea.x.start"]},
        "allow_responses": {"max": 10, "expires": "5m"}}}, {"user": "ops", "password": "o"}]
    [text] = _render_cluster(["10.244.0.2"], {"nats": {"user": "nats", "password": "n", "users": users}})
    assert '{user: "nats", password: "n"}' in text and '{user: "ops", password: "o"}' in text
    assert ('{user: "dea", password: "d\\"e\\\\a", permissions: {publish: {allow: ["router.register"]}, '
            'subscribe: {allow: ["dea.*.start"], deny: ["dea.x.start"]}, '
            'allow_responses: {max: 10, expires: "5m"}}}') in text
    path = tmp_path / "nats.conf"
    path.write_text(text)
    check = subprocess.run([NATS_SERVER, "-c", path, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout + text


def test_property_types_are_checked():
    spec = read_release_dir(NATS_RELEASE).jobs["nats"].spec
    errors = validate_job_properties(spec, {"nats": {"port": "4222", "debug": "no"}},
                                     "instance_groups/nats/jobs/0/properties")
    assert errors == ["instance_groups/nats/jobs/0/properties/nats.debug: expected boolean",
                      "instance_groups/nats/jobs/0/properties/nats.port: expected integer"]


async def _crosses_every_pair(urls: list[str], user: str, password: str) -> bool:
    """A message published on each node reaches a subscriber on every node."""
    clients = [await nats.connect(url, user=user, password=password) for url in urls]
    try:
        subscriptions = [await c.subscribe("check") for c in clients]
        for c in clients:
            await c.flush()
        for i, c in enumerate(clients):
            await c.publish("check", str(i).encode())
            await c.flush()
        for subscription in subscriptions:
            seen = set()
            for _ in urls:
                try:
                    seen.add((await subscription.next_msg(timeout=1)).data)
                except nats.errors.TimeoutError:
                    return False
            if seen != {str(i).encode() for i in range(len(urls))}:
                return False
        return True
    finally:
        for c in clients:
            await c.close()


def test_rendered_cluster_really_clusters(tmp_path):
    """Three nats-servers on loopback addresses form a full mesh from the rendered configs,
    their routes authenticated with the cluster password."""
    addresses = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    props = {"nats": {"port": free_port(), "cluster_port": free_port(), "http_port": 0,
                      "user": "nats", "password": "n", "cluster_password": "s3cr3t/+@"}}
    procs = []
    try:
        for i, text in enumerate(_render_cluster(addresses, props)):
            path = tmp_path / f"nats-{i}.conf"
            path.write_text(text)
            with open(tmp_path / f"nats-{i}.log", "w") as log:
                procs.append(subprocess.Popen([NATS_SERVER, "-c", path], stdout=log, stderr=subprocess.STDOUT))
        urls = [f"nats://{a}:{props['nats']['port']}" for a in addresses]
        deadline = time.monotonic() + 20
        meshed = False
        while not meshed and time.monotonic() < deadline:
            try:
                meshed = asyncio.run(_crosses_every_pair(urls, "nats", "n"))
            except (OSError, nats.errors.NoServersError):
                time.sleep(0.2)
        logs = "\n".join((tmp_path / f"nats-{i}.log").read_text() for i in range(3))
        assert meshed, logs
        assert "Authentication Failure" not in logs
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
    assert "cluster {" not in text, "no cluster port without a route password"
    assert 'http: "127.0.0.1:8222"' in text
    path = tmp_path / "nats.conf"
    path.write_text(text)
    subprocess.run([NATS_SERVER, "-c", path, "-t"], check=True, capture_output=True)
