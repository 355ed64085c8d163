"""Attack: a release whose templates never finish or eat memory, deployed to a real director.

Templates used to render on the director's event loop: a nested loop stalled the API,
heartbeats and lock renewal; a huge string grew the director's own memory. They now render
in a worker process bounded in time and memory, and the task fails naming job and template.
(`range(10**12)` alone is refused by Jinja2's sandbox; nested ranges are the real loop.)
"""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.director.live_director import api, one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import BIN, LocalDirector, ensure_stemcell

pytestmark = pytest.mark.vm  # uploads the local stemcell (root); the render fails before any VM exists

NESTED_LOOP = ("{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
               "{% endfor %}{% endfor %}{% endfor %}\n")
HUGE_STRING = "size={{ ('x' * 2 ** 29) | length }}\n"  # 512 MiB, more than a template may use


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    import os
    if os.geteuid() != 0:
        pytest.skip("the local CPI's stemcell upload needs root")
    stemcell = ensure_stemcell()
    root = tmp_path_factory.mktemp("render-limits")
    local = LocalDirector(root / "director-render-limits")
    try:
        local.start()
        local.cli("upload-stemcell", str(stemcell))
        local.update_cloud_config()
        release = write_release(root / "evil", "evil", {
            "looper": {"ok.conf": "fine\n", "loop.conf": "before\n" + NESTED_LOOP},
            "hog": {"hog.conf": HUGE_STRING},
        })
        local.cli("upload-release", str(release))
        yield local
    finally:
        local.stop()


def _info_latency(client: httpx.Client) -> float:
    started = time.monotonic()
    assert client.get("/info").status_code == 200
    return time.monotonic() - started


def test_endless_template_fails_the_task_while_the_api_keeps_answering(director, tmp_path):
    manifest = write(tmp_path, one_group_manifest("looping", "evil", ["looper"]))
    started = time.monotonic()
    deploy = subprocess.Popen([str(BIN / "bosh-py"), "deploy", "-n", manifest], env=director.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        latencies = []
        with api(director, timeout=3) as client:
            while deploy.poll() is None and time.monotonic() - started < 60:
                latencies.append(_info_latency(client))  # a stalled loop raises ReadTimeout here
                time.sleep(0.5)
        output, _ = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.wait()
    elapsed = time.monotonic() - started
    assert deploy.returncode == 1, output
    assert "job 'looper' template 'loop.conf' line 2: rendering took longer than 10 s" in output
    assert "instance_groups/web/0" in output
    assert len(latencies) >= 10 and max(latencies) < 1.0, latencies
    assert elapsed < 45, elapsed
    task = director.json("tasks", "-r", "1")[0]
    assert task["state"] == "error" and "rendering took longer than 10 s" in task["result"]


def test_memory_hungry_template_fails_the_task_quickly(director, tmp_path):
    manifest = write(tmp_path, one_group_manifest("hungry", "evil", ["hog"]))
    started = time.monotonic()
    result = director.cli("deploy", "-n", "--dry-run", manifest, check=False, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "job 'hog' template 'hog.conf' line 1: rendering used more than 256 MiB" in result.stdout + result.stderr
    assert time.monotonic() - started < 30
    with api(director) as client:
        assert client.get("/info").status_code == 200
