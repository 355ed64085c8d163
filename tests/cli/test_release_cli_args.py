"""Release commands refuse malformed arguments before they reach any director: each error
names the argument and what was expected (run through the real bosh-py executable, with a
CLI config pointing at no director at all)."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness import BIN


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "BOSH_PY_CONFIG": str(tmp_path / "missing-cli.json")}
    return subprocess.run([str(BIN / "bosh-py"), *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("args, message", [
    (("upload-release", "https://127.0.0.1:1/kv.tgz", "--name", "kv"), "--name and --version go together"),
    (("upload-release", "kv.tgz", "--name", "kv", "--version", "1"), "--name/--version are for URLs"),
    (("upload-release", "no-such-release.tgz"), "Release 'no-such-release.tgz': no such file or directory"),
    (("inspect-release", "kv"), "Expected NAME/VERSION, got 'kv'"),
    (("export-release", "kv/1", "debian-bookworm", "-d", "dep"), "Expected OS/VERSION, got 'debian-bookworm'"),
    (("delete-release", "/1", "-n"), "Expected NAME or NAME/VERSION, got '/1'"),
])
def test_malformed_arguments_are_refused_naming_them(tmp_path, args, message):
    result = run(tmp_path, *args)
    assert result.returncode == 1
    assert message in " ".join((result.stdout + result.stderr).split())
