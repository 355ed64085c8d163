"""The director's side of several CPIs without VMs, on a real state DB: which executable and
config a CPI name reaches, which stemcell copy a deploy picks, and the plan-time refusals
that keep anything from being created on the wrong CPI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bosh_py.director.config import CpiConfig as OwnCpi
from bosh_py.director.config import DirectorConfig
from bosh_py.director.cpi_registry import (
    UnknownCpi,
    resolve,
    targets_in_force,
    write_properties,
)
from bosh_py.director.db import open_database
from bosh_py.director.models import (
    CpiConfig,
    Deployment,
    Instance,
    PersistentDisk,
    Stemcell,
)
from bosh_py.director.planner import (
    DeploymentPlan,
    GroupPlan,
    InstancePlan,
    PlanError,
    cpi_of_az,
    resolve_stemcell,
    stemcell_cid_in,
)
from bosh_py.director.stages.plan import refuse_disk_changes
from bosh_py.director.update_config import resolve_update
from bosh_py.manifest.cpi_config import parse_cpi_config

BIN = Path(sys.executable).parent
CPIS = {"cpis": [
    {"name": "local-a", "type": "local", "properties": {"root": "/tmp/a", "password": "p4ss-a"}},
    {"name": "vendor", "type": "vendor", "exec_path": "/opt/vendor/cpi", "properties": {}},
]}
MANIFEST = {"stemcells": [{"alias": "default", "os": "debian-bookworm", "version": "latest"}]}


@pytest.fixture
def director_state(tmp_path):
    config = DirectorConfig(data_dir=tmp_path / "director", cpi=OwnCpi(executable="/opt/own/cpi",
                                                                        config_path="/etc/own.json"))
    return config, open_database(f"sqlite:///{tmp_path / 'director.db'}")


def upload_cpi_config(config: DirectorConfig, sessions, doc: dict) -> None:  # type: ignore[no-untyped-def]
    """What the API's update does, minus the HTTP."""
    with sessions.begin() as session:
        session.add(CpiConfig(content=yaml.safe_dump(doc)))
    write_properties(config, parse_cpi_config(doc))


def test_without_a_cpi_config_only_the_directors_own_cpi_is_reachable(director_state):
    config, sessions = director_state
    assert [(t.name, t.executable, t.config_path) for t in targets_in_force(config, sessions)] == \
        [("default", "/opt/own/cpi", "/etc/own.json")]
    with pytest.raises(UnknownCpi, match="CPI 'local-a' is not in the cpi-config in force"):
        resolve(config, sessions, "local-a")


def test_each_name_reaches_its_executable_and_its_own_config_and_default_stays_the_directors(director_state):
    config, sessions = director_state
    upload_cpi_config(config, sessions, CPIS)
    local_a = resolve(config, sessions, "local-a")
    assert (local_a.executable, local_a.type) == (str(BIN / "bosh-py-cpi-local"), "local")
    assert json.loads(Path(local_a.config_path).read_text()) == {"root": "/tmp/a", "password": "p4ss-a"}
    assert resolve(config, sessions, "vendor").executable == "/opt/vendor/cpi"
    # rows made before the cpi-config still reach the director's own CPI, never another
    assert resolve(config, sessions, "default").executable == "/opt/own/cpi"
    assert [t.name for t in targets_in_force(config, sessions)] == ["local-a", "vendor"]
    # a CPI dropped from the cpi-config is an error, and its credentials file is gone
    upload_cpi_config(config, sessions, {"cpis": [CPIS["cpis"][1]]})
    with pytest.raises(UnknownCpi, match="CPI 'local-a'"):
        resolve(config, sessions, "local-a")
    assert not Path(local_a.config_path).exists()


def add_stemcell(sessions, version: str, cpi: str) -> None:  # type: ignore[no-untyped-def]
    with sessions.begin() as session:
        session.add(Stemcell(name="bosh-py-local", version=version, operating_system="debian-bookworm",
                             cid=f"sc-{version}-{cpi}", cpi=cpi))


def test_latest_is_the_version_uploaded_last_not_the_last_copy_made(director_state):
    _, sessions = director_state
    add_stemcell(sessions, "1", "default")
    add_stemcell(sessions, "2", "default")
    add_stemcell(sessions, "1", "local-a")  # version 1 copied into a CPI added later
    with sessions() as session:
        chosen = resolve_stemcell(session, MANIFEST, "default", "instance_groups/web/stemcell")
    assert (chosen.version, chosen.cids) == ("2", (("default", "sc-2-default"),))


def test_named_by_os_a_version_gathers_each_cpis_own_stemcell(director_state):
    """One instance group across a local and a cloud CPI: a local stemcell in one, a light
    stemcell of the same OS and version in the other (BOSH matches stemcells this way)."""
    _, sessions = director_state
    with sessions.begin() as session:
        session.add(Stemcell(name="bosh-aws-light", version="0", operating_system="debian-bookworm",
                             cid="ami-old", cpi="aws"))
    add_stemcell(sessions, "1", "default")
    with sessions.begin() as session:
        session.add(Stemcell(name="bosh-aws-light", version="1", operating_system="debian-bookworm",
                             cid="ami-0123", cpi="aws"))
    with sessions() as session:
        by_os = resolve_stemcell(session, MANIFEST, "default", "instance_groups/web/stemcell")
        by_name = resolve_stemcell(session, {"stemcells": [{"alias": "default", "name": "bosh-py-local"}]},
                                   "default", "instance_groups/web/stemcell")
    assert by_os.cids == (("aws", "ami-0123"), ("default", "sc-1-default"))
    assert by_name.cids == (("default", "sc-1-default"),)


def test_a_cpi_without_a_copy_of_the_stemcell_fails_the_plan_naming_where(director_state):
    _, sessions = director_state
    add_stemcell(sessions, "1", "local-a")
    with sessions() as session:
        chosen = resolve_stemcell(session, MANIFEST, "default", "instance_groups/web/stemcell")
    assert stemcell_cid_in(chosen, "local-a", "x") == "sc-1-local-a"
    with pytest.raises(PlanError, match=r"^instance_groups/web/azs/1: CPI 'local-b' has no copy of stemcell "
                                        r"'bosh-py-local/1' \(CPIs holding it: 'local-a'\)"):
        stemcell_cid_in(chosen, "local-b", "instance_groups/web/azs/1")


def test_an_azs_cpi_is_the_one_it_names_else_the_directors_own():
    azs = {"z1": {"name": "z1", "cpi": "local-a"}, "z2": {"name": "z2"}}
    assert [cpi_of_az(azs, az) for az in ("z1", "z2", None)] == ["local-a", "default", "default"]


def test_an_instance_with_a_disk_is_not_moved_to_another_cpi(director_state):
    _, sessions = director_state
    with sessions.begin() as session:
        deployment = Deployment(name="dep")
        session.add(deployment)
        session.flush()
        row = Instance(deployment_id=deployment.id, group="web", index=0, uuid="u0", az="z1", vm_cid="vm-1",
                       cpi="local-a", vm_metadata={}, applied_spec={})
        session.add(row)
        session.flush()
        session.add(PersistentDisk(instance_id=row.id, cid="disk-1", cpi="local-a", size=64))
    with sessions() as session:
        existing = list(session.scalars(select(Instance)))
        moved = InstancePlan("web", 0, "u0", "z1", True, {}, "10.0.0.2", existing[0].id, {}, "digest",
                             cpi="local-b", stemcell_cid="sc")
        group = GroupPlan("web", [], [moved], None, {}, 64, {}, resolve_update({}, None, 1),  # type: ignore[arg-type]
                          "service")
        plan = DeploymentPlan("dep", [group], {}, [], {}, None, None)  # type: ignore[arg-type]
        with pytest.raises(PlanError, match="web/u0 would move from CPI 'local-a' to 'local-b'.*disk-1"):
            refuse_disk_changes(session, plan, existing)
        moved.cpi = "local-a"
        refuse_disk_changes(session, plan, existing)  # staying put is fine


def test_credentials_in_a_cpi_config_are_redacted_wherever_they_sit():
    from bosh_py.manifest.cpi_config import redact_cpi_config

    doc = {"cpis": [{"name": "aws", "type": "libcloud", "properties": {
        "provider": "aws",
        "aws": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "wJalr", "region": "eu-west-1",
                "default_key_name": "bosh", "session_token": "tok"},
        "openstack": {"password": "pw", "username": "bosh", "auth_url": "https://keystone:5000/v3"},
        "agent": {"mbus": "nats://agent:hunter22@10.0.0.1:4222", "ca": "-----BEGIN CERTIFICATE-----\nMII"},
        "tls": {"private_key": {"pem": "x"}, "cert": "c"},
    }}]}
    shown = redact_cpi_config(doc)["cpis"][0]["properties"]
    assert shown == {
        "provider": "aws",
        "aws": {"access_key_id": "<redacted>", "secret_access_key": "<redacted>", "region": "eu-west-1",
                "default_key_name": "bosh", "session_token": "<redacted>"},
        "openstack": {"password": "<redacted>", "username": "bosh", "auth_url": "https://keystone:5000/v3"},
        "agent": {"mbus": "<redacted>", "ca": "<redacted>"},
        "tls": {"private_key": {"pem": "<redacted>"}, "cert": "<redacted>"},
    }
    assert doc["cpis"][0]["properties"]["aws"]["secret_access_key"] == "wJalr"  # a copy: the stored one is intact
