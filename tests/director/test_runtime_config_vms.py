"""Runtime-config addons end to end, through the CLI and real VMs: an addon lands on exactly
the instance groups its rules select, across deployments; a deployment keeps the
runtime-config it was deployed with when one of its instances is recreated, and picks up a
new one (shown in the diff) at its next deploy."""

from __future__ import annotations


import pytest
import yaml

from tests.director.live_director import one_group_manifest, write_release
from tests.e2e.manifests import write
from tests.harness import LocalDirector, director_with_stemcell, wait_until

pytestmark = [pytest.mark.vm, pytest.mark.slow]


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtime-config-vms")
    with director_with_stemcell(root / "director") as local:
        local.cli("upload-release", str(write_release(root / "plain", "plain", {"web": {"web.conf": "web\n"},
                                                                               "idle": {"idle.conf": "idle\n"}})))
        local.cli("upload-release", str(write_release(root / "fwd", "fwd", {"forwarder": {"fwd.conf": "fwd\n"}})))
        yield local


def runtime_config(director: LocalDirector, tmp_path, include: dict, exclude: dict | None = None) -> None:
    [fwd] = [r for r in director.json("releases") if r["name"] == "fwd"]
    addon = {"name": "forwarder", "jobs": [{"name": "forwarder", "release": "fwd"}], "include": include}
    if exclude:
        addon["exclude"] = exclude
    path = tmp_path / "runtime.yml"
    path.write_text(yaml.safe_dump({"releases": [{"name": "fwd", "version": fwd["version"]}], "addons": [addon]}))
    director.cli("update-runtime-config", str(path))


def processes_by_group(director: LocalDirector, deployment: str) -> dict[str, set[str]]:
    """Each group's process names, once every agent has answered: under load `instances`
    may show an agent whose get_state took longer than its 3 s as unresponsive, without
    processes, for a moment."""
    def answered() -> list[dict] | None:
        rows = director.json("instances", "-d", deployment, "--ps")
        return rows if all(row["process_state"] == "running" for row in rows) else None

    found: dict[str, set[str]] = {}
    for row in wait_until(answered, timeout=30, interval=1, message=f"every instance of {deployment} running"):
        found.setdefault(row["group"], set()).update(p["name"] for p in row["processes"])
    return found


def test_an_addon_lands_on_exactly_the_vms_its_rules_select(director, tmp_path):
    runtime_config(director, tmp_path, include={"deployments": ["alpha"]}, exclude={"instance_groups": ["worker"]})
    alpha = one_group_manifest("alpha", "plain", ["web"])
    worker = dict(alpha["instance_groups"][0], name="worker", jobs=[{"name": "idle", "release": "plain"}])
    alpha["instance_groups"].append(worker)
    director.cli("deploy", "-n", write(tmp_path, alpha, "alpha.yml"))
    director.cli("deploy", "-n", write(tmp_path, one_group_manifest("beta", "plain", ["web"]), "beta.yml"))
    assert processes_by_group(director, "alpha") == {"web": {"web", "forwarder"}, "worker": {"idle"}}
    assert processes_by_group(director, "beta") == {"web": {"web"}}

    # a new runtime-config changes nothing until a deploy: recreating keeps what alpha was deployed with
    runtime_config(director, tmp_path, include={"deployments": ["beta"]})
    director.cli("recreate", "-n", "-d", "alpha", "web")
    assert processes_by_group(director, "alpha")["web"] == {"web", "forwarder"}

    # the next deploy shows the addon in its diff and places it
    out = director.cli("deploy", "-n", write(tmp_path, one_group_manifest("beta", "plain", ["web"]), "beta.yml"))
    assert "addons:" in out.stdout and "- - exclude:" in out.stdout  # the runtime-config's change, in the diff
    assert processes_by_group(director, "beta") == {"web": {"web", "forwarder"}}
    director.cli("deploy", "-n", write(tmp_path, alpha, "alpha.yml"))
    assert processes_by_group(director, "alpha") == {"web": {"web"}, "worker": {"idle"}}


def test_a_bad_runtime_config_is_refused_and_changes_nothing(director, tmp_path):
    before = director.cli("runtime-config", check=False).stdout
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"releases": [{"name": "fwd", "version": "latest"}], "addons": []}))
    result = director.cli("update-runtime-config", str(path), check=False)
    assert result.returncode == 1
    assert "runtime-config 'default': releases/fwd/version" in result.stderr + result.stdout
    assert director.cli("runtime-config", check=False).stdout == before
