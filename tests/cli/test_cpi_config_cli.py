"""`bosh-py update-cpi-config`, `cpi-config` and `cpis` against a real director (no VMs):
validation errors name their path and store nothing, credentials never come back out, each
CPI's properties become its private config file, and cloud-config AZs must name CPIs that
exist."""

from __future__ import annotations

import json
import stat

import pytest
import yaml

from tests.cpi_configs import (
    SECRET,
    cloud_config_on_cpis,
    local_cpi_properties,
    two_local_cpis,
    write_yaml,
)
from tests.director.live_director import api
from tests.harness import REPO, LocalDirector


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    local = LocalDirector(tmp_path_factory.mktemp("bosh-py-cpi-config"))
    try:
        local.start()
        yield local
    finally:
        local.stop()


def stored_cpi_config(director: LocalDirector) -> str | None:
    result = director.cli("cpi-config", check=False)
    return result.stdout if result.returncode == 0 else None


def properties_files(director: LocalDirector) -> list[str]:
    folder = director.data_dir / "cpis"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def refused(director: LocalDirector, *args: str) -> str:
    result = director.cli(*args, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    return " ".join((result.stdout + result.stderr).split())  # rich may wrap long lines


def test_without_a_cpi_config_the_directors_own_cpi_is_the_only_one(director):
    result = director.cli("cpi-config", check=False)
    assert result.returncode == 1 and "No cpi-config uploaded" in result.stdout
    rows = director.json("cpis")
    assert [(r["name"], r["type"], r["stemcell_formats"]) for r in rows] == \
        [("default", "bosh-py-cpi-local", ["local-rootfs"])]


@pytest.mark.parametrize("change, message", [
    (lambda doc: doc["cpis"][1].update(type="bogus"),
     "cpi-config: cpis/local-b/type: unknown CPI type 'bogus' (known: dummy, libcloud, local, ssh); give exec_path"),
    (lambda doc: doc["cpis"][1].pop("name"), "cpi-config: cpis/1: missing required key 'name'"),
    (lambda doc: doc["cpis"][1].update(name="local-a"), "cpi-config: cpis/1/name: duplicate cpi 'local-a'"),
    (lambda doc: doc["cpis"][0].update(name="default"),
     "cpi-config: cpis/default/name: 'default' is the name of the director's own CPI"),
    (lambda doc: doc["cpis"][0].update(name="../etc"), "cpi-config: cpis/0/name: '../etc' is not a valid CPI name"),
    (lambda doc: doc["cpis"][0].update(exec_path="bin/cpi"),
     "cpi-config: cpis/local-a/exec_path: 'bin/cpi' must be an absolute path"),
    (lambda doc: doc["cpis"][0].update(properties="root=/x"), "cpi-config: cpis/local-a/properties: expected map"),
], ids=["bad-type", "missing-name", "duplicate-name", "reserved-name", "path-in-name", "relative-exec-path",
        "properties-not-a-map"])
def test_a_bad_cpi_config_names_the_path_and_stores_nothing(director, tmp_path, change, message):
    before = stored_cpi_config(director)
    doc = two_local_cpis(tmp_path)
    change(doc)
    output = refused(director, "update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", doc)),
                     "-v", f"cpi_password={SECRET}")
    assert message in output
    assert SECRET not in output
    assert stored_cpi_config(director) == before
    assert properties_files(director) == ([] if before is None else ["local-a.json", "local-b.json"])


def test_a_missing_variable_is_refused_before_anything_is_sent(director, tmp_path):
    before = stored_cpi_config(director)
    output = refused(director, "update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", two_local_cpis(tmp_path))))
    assert "cpi_password" in output
    assert stored_cpi_config(director) == before


def test_a_cloud_config_naming_a_cpi_without_a_cpi_config_is_refused(director, tmp_path):
    director.cli("update-cpi-config", str(write_yaml(tmp_path / "none.yml", {"cpis": []})))  # none in force
    path = write_yaml(tmp_path / "cc.yml", cloud_config_on_cpis({"z1": "local-a"}))
    assert "cloud-config: azs/z1/cpi: cpi 'local-a' is not defined: no cpi-config is in force" in \
        refused(director, "update-cloud-config", str(path))


def test_the_cpi_config_is_stored_its_credentials_never_shown(director, tmp_path):
    path = write_yaml(tmp_path / "cpis.yml", two_local_cpis(tmp_path))
    assert "CPI config updated" in director.cli("update-cpi-config", str(path), "-v", f"cpi_password={SECRET}").stdout
    assert "CPI config unchanged" in director.cli("update-cpi-config", str(path), "-v",
                                                  f"cpi_password={SECRET}").stdout
    shown = director.cli("cpi-config").stdout
    assert "name: local-a" in shown and "api_password: <redacted>" in shown
    assert SECRET not in shown
    # the CPI gets its properties, credentials included, in a file only root may read
    folder = director.data_dir / "cpis"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for letter in ("a", "b"):
        written = folder / f"local-{letter}.json"
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
        assert json.loads(written.read_text()) == {**local_cpi_properties(tmp_path, letter), "api_password": SECRET}
    rows = director.json("cpis")
    assert [(r["name"], r["type"], r["stemcell_formats"], r["vms"]) for r in rows] == \
        [("local-a", "local", ["local-rootfs"], 0), ("local-b", "local", ["local-rootfs"], 0)]
    table = director.cli("cpis").stdout
    assert "local-a" in table and "local-rootfs" in table
    # nothing the director says or records carries the credential
    for args in (("events",), ("tasks", "--recent", "50"), ("cpis",)):
        result = director.cli(*args, "--json", check=False)
        assert SECRET not in result.stdout + result.stderr, args
    assert SECRET not in (director.data_dir / "director.log").read_text()


def test_with_a_cpi_config_every_az_must_name_one_of_its_cpis(director, tmp_path):
    if stored_cpi_config(director) is None:
        director.cli("update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", two_local_cpis(tmp_path))),
                     "-v", f"cpi_password={SECRET}")
    before = director.cli("cloud-config", check=False).stdout
    unknown = write_yaml(tmp_path / "unknown.yml", cloud_config_on_cpis({"z1": "local-a", "z2": "nope"}))
    assert "cloud-config: azs/z2/cpi: cpi 'nope' is not defined in the cpi-config (defined: 'local-a', " \
           "'local-b')" in refused(director, "update-cloud-config", str(unknown))
    missing = write_yaml(tmp_path / "missing.yml", cloud_config_on_cpis({"z1": "local-a", "z2": None}))
    assert "cloud-config: azs/z2/cpi: missing: a cpi-config is in force" in \
        refused(director, "update-cloud-config", str(missing))
    assert director.cli("cloud-config", check=False).stdout == before
    good = write_yaml(tmp_path / "good.yml", cloud_config_on_cpis({"z1": "local-a", "z2": "local-b"}))
    assert "Cloud config updated" in director.cli("update-cloud-config", str(good)).stdout


def test_a_cpi_config_with_an_unknown_type_and_an_exec_path_runs_that_executable(director, tmp_path):
    """Any executable speaking the CPI protocol can be named (an EC2 harness, a vendor's CPI)."""
    doc = two_local_cpis(tmp_path)
    doc["cpis"][1].update(type="vendor", exec_path=str(director.root.parent / "nonexistent-cpi"))
    director.cli("update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", doc)), "-v", f"cpi_password={SECRET}")
    rows = {r["name"]: r for r in director.json("cpis")}
    assert rows["local-b"]["type"] == "vendor"
    assert rows["local-b"]["stemcell_formats"] == [] and "cannot run CPI" in rows["local-b"]["error"]
    assert rows["local-a"]["stemcell_formats"] == ["local-rootfs"]


def test_the_local_example_cpi_config_is_accepted(director):
    """deployments/cpi-config-local.yml, as the operator would upload it."""
    director.cli("update-cpi-config", str(REPO / "deployments/cpi-config-local.yml"))
    rows = director.json("cpis")
    assert [(r["name"], r["type"], r["stemcell_formats"]) for r in rows] == \
        [("local-a", "local", ["local-rootfs"]), ("local-b", "local", ["local-rootfs"])]


def test_the_api_refuses_a_cpi_config_with_an_unset_variable(director, tmp_path):
    """Through the API (no CLI to interpolate first): a ((var)) would reach the CPI as text."""
    before = stored_cpi_config(director)
    doc = two_local_cpis(tmp_path)
    with api(director) as http:
        response = http.post("/configs", json={"type": "cpi", "content": yaml.safe_dump(doc)})
    assert response.status_code == 400
    assert response.json()["description"] == "\n".join(
        f"cpi-config: cpis/local-{letter}/properties/api_password: variable 'cpi_password' is not set: "
        f"pass it to update-cpi-config with -v or -l" for letter in "ab")
    assert stored_cpi_config(director) == before


def test_a_restarted_director_writes_each_cpis_config_file_again(director, tmp_path):
    """The files follow the stored cpi-config (a data dir restored without them, a lost file)."""
    director.cli("update-cpi-config", str(write_yaml(tmp_path / "cpis.yml", two_local_cpis(tmp_path))),
                 "-v", f"cpi_password={SECRET}")
    for written in (director.data_dir / "cpis").iterdir():
        written.unlink()
    (director.data_dir / "cpis" / "gone.json").write_text("{}")  # a CPI no longer named
    director.cli("director", "stop", "--data-dir", str(director.data_dir))
    director.start()
    assert properties_files(director) == ["local-a.json", "local-b.json"]
    written = director.data_dir / "cpis" / "local-a.json"
    assert json.loads(written.read_text())["api_password"] == SECRET
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
