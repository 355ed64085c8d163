"""Credentials from the CPI's environment (``credentials_source: env``), through the real
executable against moto: they work, are redacted like any configured secret, and a missing
or doubly-given one is a clear InvalidCall before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpi.libcloud.config import with_credentials_source
from cpi.libcloud.errors import InvalidCall
from tests.cpi_libcloud.support import Cpi, MotoEc2, World, write_config


def env_config(tmp_path: Path, moto: MotoEc2, world: World) -> Path:
    path = write_config(tmp_path / "cpi.json", moto, world, credentials_source="env")
    text = path.read_text()
    for value in (moto.access_key, moto.secret_key):
        text = text.replace(f'"{value}"', "null")
    path.write_text(text.replace('"access_key_id": null, ', "").replace('"secret_access_key": null, ', ""))
    assert moto.secret_key not in path.read_text()
    return path


def test_credentials_from_the_environment_work_and_stay_secret(tmp_path, moto, world, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    cpi = Cpi(env_config(tmp_path, moto, world))
    disk = cpi.result("create_disk", 1024, {"availability_zone": "us-east-1a"}, None)
    assert disk in moto.volume_ids()
    # the secret given back as an argument is redacted, as a configured one is
    error = cpi.error("delete_disk", moto.secret_key)
    assert moto.secret_key not in error["message"] and "<redacted>" in error["message"]
    cpi.result("delete_disk", disk)
    assert all(moto.secret_key not in out + err for _m, out, err in cpi.calls)


def test_a_wrong_secret_in_the_environment_is_refused_by_the_cloud(tmp_path, moto, world, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-" + moto.secret_key)
    error = Cpi(env_config(tmp_path, moto, world)).error("create_disk", 1024, {"availability_zone": "us-east-1a"}, None)
    assert error["type"] == "CloudError" and "rejected the configured credentials" in error["message"]
    assert moto.volume_ids() == []


def test_a_missing_variable_is_named_before_any_request(tmp_path, moto, world, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    error = Cpi(env_config(tmp_path, moto, world)).error("create_disk", 1024, {}, None)
    assert error["type"] == "InvalidCall"
    assert "$AWS_ACCESS_KEY_ID is not set" in error["message"]


@pytest.mark.parametrize("settings, environ, says", [
    ({"credentials_source": "env", "password": "x"}, {"OS_PASSWORD": "y"},
     "openstack.password: set in the config while credentials_source is 'env'"),
    ({"credentials_source": "profile"}, {}, "'profile' is not 'static' or 'env'"),
    ({"credentials_source": "env"}, {}, "$OS_PASSWORD is not set"),
])
def test_bad_credentials_source_is_named(settings, environ, says):
    with pytest.raises(InvalidCall, match=says.replace("$", r"\$").replace("(", r"\(")):
        with_credentials_source("openstack", settings, environ)


def test_static_is_the_default_and_env_fills_each_provider():
    assert with_credentials_source("aws", {"access_key_id": "a"}, {"AWS_ACCESS_KEY_ID": "b"}) == {"access_key_id": "a"}
    filled = with_credentials_source("vsphere", {"credentials_source": "env", "user": "u"}, {"VSPHERE_PASSWORD": "p"})
    assert filled["password"] == "p" and filled["user"] == "u"
    aws = with_credentials_source("aws", {"credentials_source": "env"},
                                  {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"})
    assert (aws["access_key_id"], aws["secret_access_key"], aws["session_token"]) == ("a", "s", "t")
