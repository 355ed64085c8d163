"""The agent bundle is shipped with bytecode, so an agent does not compile itself at each
start (about 0.7 CPU-seconds per VM measured before), and the bytecode can never be wrong:
stale or foreign bytecode falls back to the source."""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from bosh_py.agent.bundle import build_agent_bundle
from bosh_py.ssh.agent_bytecode import shipped_bundle, with_bytecode

# Imports ``module`` from the zip at argv[1] and prints, as JSON, how many times a module of
# the zip was compiled from source (zipimport calls builtins.compile for that: twice per
# module in python 3.11, from get_filename and get_code), its VALUE and main()'s file name.
COUNT_COMPILES = r"""
import builtins, json, sys
archive, module = sys.argv[1], sys.argv[2]
compiled = []
real = builtins.compile
def counting(source, filename, *args, **kwargs):
    if str(filename).startswith(archive):
        compiled.append(filename)
    return real(source, filename, *args, **kwargs)
builtins.compile = counting
sys.path.insert(0, archive)
imported = __import__(module, fromlist=["x"])
main = getattr(imported, "main", None)
print(json.dumps([len(compiled), getattr(imported, "VALUE", None), main and main.__code__.co_filename]))
"""


def import_from(archive: Path, module: str) -> list:
    """[source compilations, VALUE, main's file name] of importing ``module`` from ``archive``."""
    done = subprocess.run([sys.executable, "-S", "-c", COUNT_COMPILES, str(archive), module],
                          capture_output=True, text=True, timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_shipped_agent_imports_without_compiling_a_module(tmp_path):
    bundle = build_agent_bundle(tmp_path / "agent.pyz")
    plain = import_from(bundle, "bosh_py.agent.main")
    assert plain[0] > 20, "the plain bundle compiles its modules at every start"

    shipped = tmp_path / "shipped.pyz"
    shipped.write_bytes(shipped_bundle(bundle, str(shipped)))
    count, _, filename = import_from(shipped, "bosh_py.agent.main")
    assert count == 0
    assert filename == f"{shipped}/bosh_py/agent/main.py"  # tracebacks name the bundle's files
    with zipfile.ZipFile(shipped) as archive:
        assert archive.comment == zipfile.ZipFile(bundle).comment  # the bundle's digest is kept
        assert shipped.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def test_the_bundle_is_compiled_once_per_process(tmp_path):
    bundle = build_agent_bundle(tmp_path / "agent.pyz")
    assert shipped_bundle(bundle, "/var/vcap/bosh/agent.pyz") is shipped_bundle(bundle, "/var/vcap/bosh/agent.pyz")


def tiny_zipapp(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def replaced(bundle: bytes, name: str, data: bytes) -> bytes:
    """``bundle`` with ``name``'s content replaced (everything else, its .pyc too, kept)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, data if info.filename == name else source.read(info))
    return out.getvalue()


def test_bytecode_whose_source_changed_is_not_used(tmp_path):
    archive = tmp_path / "app.pyz"
    compiled = with_bytecode(tiny_zipapp({"mod.py": b"VALUE = 1\n"}), str(archive))
    archive.write_bytes(replaced(compiled, "mod.py", b"VALUE = 2\n"))
    count, value, _ = import_from(archive, "mod")
    assert value == 2 and count > 0  # compiled from the new source


def test_bytecode_of_another_python_is_ignored(tmp_path, monkeypatch):
    archive = tmp_path / "app.pyz"
    monkeypatch.setattr(importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")  # what no python reads
    archive.write_bytes(with_bytecode(tiny_zipapp({"mod.py": b"VALUE = 3\n"}), str(archive)))
    count, value, _ = import_from(archive, "mod")
    assert value == 3 and count > 0
