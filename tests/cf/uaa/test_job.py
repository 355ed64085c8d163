"""The uaa job and its package as the director and a VM use them: the rendered config, bad
input refused with the place named (and no secret echoed), the package's own build."""

from __future__ import annotations

import json
import subprocess

import pytest

from bosh_py.release import RenderError

from .uaa_support import (
    ADMIN_CLIENT_SECRET,
    UAA_RELEASE,
    job_properties,
    new_signing_key,
    render_job,
    uaa_command,
)


def run_uaa(tmp_path, crypto_package, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "uaa.json"
    path.write_text(json.dumps(config))
    argv, env = uaa_command(path, crypto_package)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def rendered_config(tmp_path, links: dict | None = None, nats: dict | None = None, **uaa) -> dict:
    properties = {**job_properties(tmp_path / "store", 8080, new_signing_key(), **uaa), **({"nats": nats} if nats else {})}
    return json.loads(render_job(properties, ip="10.244.25.9", links=links)["config/uaa.json"])


def test_rendered_config_has_cf_and_admin_clients(tmp_path):
    config = rendered_config(tmp_path)
    assert config["issuer"] == "http://10.244.25.9:8080"
    assert config["data_dir"] == str(tmp_path / "store")
    assert config["clients"]["cf"]["secret"] == ""
    assert config["clients"]["admin"]["secret"] == ADMIN_CLIENT_SECRET
    assert config["clients"]["admin"]["authorized-grant-types"] == ["client_credentials"]
    # an operator's uaa.clients cannot redefine the admin client's authorities or secret
    config = rendered_config(tmp_path, clients={"admin": {"authorized-grant-types": "password",
                                                          "authorities": "uaa.admin", "secret": "mine"}})
    assert config["clients"]["admin"]["secret"] == ADMIN_CLIENT_SECRET
    assert "cf" not in config["clients"]  # uaa.clients replaces the default cf client


def test_rendered_config_makes_the_uaa_a_component_with_its_own_nats_user(tmp_path):
    from cf_platform.uaa.config import parse_config

    from tests.cf.metrics.component_support import nats_link
    link = nats_link(4222, "shared", "shared-pw")
    config = parse_config(rendered_config(tmp_path, links={"nats": link}, nats={"user": "uaa", "password": 'n"pw'},
                                          status={"user": "uaa-status", "password": 's"t'}))
    assert config.status is not None
    assert (config.status.port, config.status.user, config.status.password) == (8085, "uaa-status", 's"t')
    assert (config.index, config.host) == (0, "10.244.25.9")
    assert config.nats is not None and config.nats.servers == ["nats://127.0.0.1:4222"]
    assert (config.nats.user, config.nats.password) == ("uaa", 'n"pw')
    # without its own user: the link's; without the link or status credentials: neither
    assert parse_config(rendered_config(tmp_path, links={"nats": link})).nats.user == "shared"
    plain = parse_config(rendered_config(tmp_path))
    assert plain.status is None and plain.nats is None
    with pytest.raises(RenderError, match="nats.password"):
        rendered_config(tmp_path, links={"nats": link}, nats={"user": "uaa"})


def test_rendering_without_the_signing_key_names_the_property(tmp_path):
    properties = job_properties(tmp_path, 8080, "x")
    del properties["uaa"]["jwt"]["signing_key"]
    with pytest.raises(RenderError, match="uaa.jwt.signing_key"):
        render_job(properties)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["jwt"].pop("signing_key"), "jwt/signing_key: required"),
    (lambda c: c.update(port="8080"), "port: expected int"),
    (lambda c: c["clients"]["cf"].update({"authorized-grant-types": "password,implicit"}),
     "clients/cf/authorized-grant-types: unknown grant type 'implicit'"),
    (lambda c: c["clients"]["admin"].update(secret=""), "clients/admin/secret: a client with the client_credentials"),
    (lambda c: c["users"][0].update(password=""), "users/0/password: must not be empty"),
    (lambda c: c.update(access_token_validity=0), "access_token_validity: must be a positive"),
    (lambda c: c.update(status={"port": "8085", "user": "u", "password": "p"}), "status.port: expected int"),
    (lambda c: c.update(status={"port": 8085}), "status: user and password are required"),
    (lambda c: c.update(nats={"servers": []}), "nats.servers: expected a list of nats:// URLs"),
    (lambda c: c.update(nats={"servers": ["nats://10.0.0.1:4222"], "user": "u"}), "nats.user and nats.password go"),
])
def test_bad_config_is_refused_naming_the_key(tmp_path, crypto_package, change, message):
    config = rendered_config(tmp_path)
    change(config)
    result = run_uaa(tmp_path, crypto_package, config)
    assert result.returncode == 2
    assert message in result.stderr and str(tmp_path / "uaa.json") in result.stderr
    assert ADMIN_CLIENT_SECRET not in result.stderr + result.stdout


def test_a_key_that_is_no_rsa_pem_is_refused_without_echoing_it(tmp_path, crypto_package):
    config = rendered_config(tmp_path)
    config["jwt"]["signing_key"] = "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----\n"
    result = run_uaa(tmp_path, crypto_package, config)
    assert result.returncode == 1
    assert "jwt signing key 'key-1' is not a PEM private key" in result.stderr
    assert "c2VjcmV0LWtleS1ieXRlcw" not in result.stderr
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_the_package_fails_its_build_without_blobs(tmp_path):
    (tmp_path / "install").mkdir()
    result = subprocess.run(["bash", str(UAA_RELEASE / "packages/python3-cryptography/packaging")],
                            cwd=tmp_path, capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/bin:/bin", "BOSH_INSTALL_TARGET": str(tmp_path / "install"),
                                 "BOSH_COMPILE_TARGET": str(tmp_path)})
    assert result.returncode == 1
    assert "no .deb blobs (run scripts/prepare-uaa-blobs)" in result.stderr


def test_the_package_holds_cryptography_outside_system_site_packages(crypto_package):
    """What the VM gets: the module loads from the package with -S (no dist-packages)."""
    dist = crypto_package / "usr/lib/python3/dist-packages"
    code = "import cryptography, _cffi_backend; print(cryptography.__file__, _cffi_backend.__file__)"
    result = subprocess.run(["/usr/bin/python3", "-S", "-c", code], env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(dist)},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(str(dist)) == 2
    without = subprocess.run(["/usr/bin/python3", "-S", "-c", "import cryptography"],
                             env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=False)
    assert without.returncode != 0  # so the server's tests really run on the package's copy
