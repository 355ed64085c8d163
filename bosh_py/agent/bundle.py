"""Build the agent's self-contained zipapp: ``python3 agent.pyz [--settings PATH]``.

Contents: ``bosh_py/agent`` (this package), ``bosh_py/errors.py``, a stub
``bosh_py/__init__.py`` (the real one may grow imports the VM cannot satisfy), nats-py,
and PyYAML's pure-Python modules (for monit files; its C extension cannot load from a
zip and PyYAML falls back by itself). Runs on any Linux python3 >= 3.11 without pip.

The archive is deterministic (fixed timestamps, sorted entries) and carries the digest
of its inputs in the zip comment, so a repeated build with unchanged sources costs one
hash of the sources, and equal bundles have equal bytes (the director can compare the
file's sha256 with what a VM has).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import zipfile
from pathlib import Path

BUNDLE_FORMAT = b"bosh-py-agent-bundle/1"
SHEBANG = b"#!/usr/bin/env python3\n"
MAIN = b'''"""bosh-py agent bundle entry point."""
from bosh_py.agent.main import main

raise SystemExit(main())
'''
INIT_STUB = b'''"""bosh-py (agent bundle: only the agent and its error types)."""
'''
EXCLUDE_AGENT = {"bundle.py"}  # build-time only


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} not found; it is needed in the agent bundle")
    return Path(list(spec.submodule_search_locations)[0])


def _tree(src: Path, prefix: str, exclude: set[str] = frozenset()) -> list[tuple[str, Path]]:
    files = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fname in sorted(filenames):
            if not fname.endswith(".py") or fname in exclude and Path(dirpath) == src:
                continue
            full = Path(dirpath) / fname
            files.append((f"{prefix}/{full.relative_to(src).as_posix()}", full))
    return files


def bundle_sources() -> list[tuple[str, bytes]]:
    """``(name in zip, content)`` for everything the bundle holds, sorted."""
    bosh_py_dir = Path(__file__).resolve().parent.parent
    entries: list[tuple[str, bytes]] = [
        ("__main__.py", MAIN),
        ("bosh_py/__init__.py", INIT_STUB),
        ("bosh_py/errors.py", (bosh_py_dir / "errors.py").read_bytes()),
    ]
    files = _tree(bosh_py_dir / "agent", "bosh_py/agent", EXCLUDE_AGENT)
    files += _tree(_package_dir("nats"), "nats")
    files += _tree(_package_dir("yaml"), "yaml")
    entries += [(name, path.read_bytes()) for name, path in files]
    return sorted(entries)


def sources_digest(entries: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256(BUNDLE_FORMAT)
    for name, content in entries:
        h.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return h.hexdigest()


def _existing_digest(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.comment.decode() or None
    except (OSError, zipfile.BadZipFile):
        return None


def build_agent_bundle(out: Path) -> Path:
    """Write the bundle to ``out`` (a file path; a directory gets ``agent.pyz`` inside)
    unless an identical one is already there; return its path."""
    out = Path(out)
    if out.is_dir():
        out = out / "agent.pyz"
    entries = bundle_sources()
    digest = sources_digest(entries)
    if out.is_file() and _existing_digest(out) == digest:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(SHEBANG)
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                for name, content in entries:
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, content)
                zf.comment = digest.encode()
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
