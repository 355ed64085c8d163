"""A small release built in a temp dir, so each test can change it freely."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
NATS_RELEASE = REPO / "releases" / "nats"
VENV_BIN = REPO / ".venv" / "bin"


def write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mode is not None:
        os.chmod(path, mode)
    return path


@pytest.fixture
def make_release(tmp_path: Path) -> Callable[..., Path]:
    """Build the ``demo`` release: packages ``lib`` and ``app`` (app depends on lib), job ``web``."""

    def make(root: Path | None = None) -> Path:
        rel = root or tmp_path / "demo"
        write(rel / "config/final.yml", "name: demo\n")
        write(rel / "src/lib/a.txt", "lib a\n")
        write(rel / "src/lib/b.txt", "lib b\n")
        write(rel / "src/lib/skip.tmp", "excluded\n")
        write(rel / "blobs/app/app.bin", "binary blob\n", 0o755)
        write(rel / "packages/lib/spec", "name: lib\nfiles:\n- lib/*\nexcluded_files:\n- '*.tmp'\n")
        write(rel / "packages/lib/packaging", "cp -a lib $BOSH_INSTALL_TARGET/\n")
        write(rel / "packages/app/spec", "name: app\ndependencies: [lib]\nfiles:\n- app/**/*\n")
        write(rel / "packages/app/packaging", "cp -a app $BOSH_INSTALL_TARGET/\n")
        write(rel / "jobs/web/spec", """\
---
name: web
templates:
  web.conf.j2: config/web.conf
  ctl.j2: bin/ctl
packages: [app]
properties:
  web.port: {description: port, default: 8080}
  web.name: {description: name, type: string}
  web.debug: {default: false}
consumes:
- {name: peers, type: web, optional: true}
provides:
- {name: web, type: web, properties: [web.port]}
""")
        write(rel / "jobs/web/monit", "processes:\n- name: web\n  executable: /var/vcap/jobs/web/bin/ctl\n")
        write(rel / "jobs/web/templates/web.conf.j2", "port={{ p('web.port') }}\n")
        write(rel / "jobs/web/templates/ctl.j2", "#!/bin/sh\nexec app --port {{ p('web.port') }}\n")
        return rel

    return make
