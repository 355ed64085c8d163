"""Fixtures: a real CC process and DEA stand-in (tests/cf/cc/plumbing.py), and a way to run
the installed ``cf-py`` command with its own config file (CF_PY_CONFIG)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CF_PY = Path(sys.executable).parent / "cf-py"


@dataclass
class CfPy:
    config: Path
    home: Path

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "CF_PY_CONFIG": str(self.config), "COLUMNS": "200", "TERM": "dumb", **(env or {})}
        return subprocess.run([str(CF_PY), *args], capture_output=True, text=True, env=env, input=input,
                              timeout=timeout)

    def ok(self, *args: str, **kwargs) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, f"cf-py {' '.join(args)}: {result.stdout}\n{result.stderr}"
        return result.stdout


@pytest.fixture
def cf(tmp_path, cc):
    """cf-py, targeted at the CC and logged in as admin."""
    home = tmp_path / "home"
    home.mkdir()
    client = CfPy(tmp_path / "cf-py" / "config.json", home)
    client.ok("api", cc.url)
    client.ok("login", "-u", "admin", "-p", "admin-secret")
    return client


@pytest.fixture
def app_dir(tmp_path):
    d = tmp_path / "hello"
    d.mkdir()
    (d / "app.py").write_text("print('hello')\n")
    (d / "Procfile").write_text("web: python3 app.py\n")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "junk.pyc").write_bytes(b"x")
    return d
