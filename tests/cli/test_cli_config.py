"""The CLI config holds the director's admin password: only its owner may read it."""

from __future__ import annotations

import stat

from bosh_py.cli.config import CliConfig, save_cli_config


def test_saving_makes_a_config_left_world_readable_by_an_older_version_private(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text("{}")
    path.chmod(0o644)
    monkeypatch.setenv("BOSH_PY_CONFIG", str(path))
    save_cli_config(CliConfig(url="http://127.0.0.1:25555", user="admin", password="s3cret"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_https_director_is_verified_and_an_http_one_loads_no_ca_bundle():
    """The CLI skips building a TLS context for http:// (~0.1 s of every command), never for https://."""
    import ssl

    from bosh_py.cli.client import DirectorClient
    from bosh_py.cli.config import CliConfig

    def tls_of(url: str) -> ssl.SSLContext:
        return DirectorClient(CliConfig(url=url, user="admin", password="x")).http._transport._pool._ssl_context

    secure = tls_of("https://director.example:25555")
    assert secure.verify_mode == ssl.CERT_REQUIRED and secure.check_hostname
    assert secure.cert_store_stats()["x509_ca"] > 0
    assert tls_of("http://127.0.0.1:25555").cert_store_stats()["x509_ca"] == 0
