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
