"""The agent bundle as the director ships it: the zipapp with compiled bytecode beside each module.

zipimport cannot write ``__pycache__`` into a zip, so a bundle of sources is compiled again at
every agent start: measured at about 0.7 CPU-seconds per VM on this machine, the largest
single CPU cost of making a VM. zipimport does read a ``name.pyc`` stored next to
``name.py`` in the archive, so each module is compiled here once per bundle and director
process, and every VM loads bytecode instead.

The bytecode is safe to ship whatever python the VM has: each ``.pyc`` is hash-checked
against its source in the same archive (a source changed after compilation is compiled as
before), and a VM whose python has another bytecode magic number than the director's
(a cloud image with another python3 minor version) rejects the ``.pyc`` and falls back to the
source, as without this module. The sources stay in the bundle for that, and for tracebacks.
"""

from __future__ import annotations

import importlib.util
import io
import marshal
import threading
import zipfile
from pathlib import Path

# hash-based pyc (PEP 552) whose hash the importer checks against the source in the archive
_CHECKED_HASH_FLAGS = (0b11).to_bytes(4, "little")
_lock = threading.Lock()
_cache: dict[tuple[str, int, int, str], bytes] = {}


def pyc_bytes(source: bytes, filename: str) -> bytes:
    """A checked-hash ``.pyc`` for ``source`` (what ``py_compile`` writes with
    ``PycInvalidationMode.CHECKED_HASH``); ``filename`` is what tracebacks name."""
    code = compile(source, filename, "exec", dont_inherit=True)
    return (importlib.util.MAGIC_NUMBER + _CHECKED_HASH_FLAGS + importlib.util.source_hash(source)
            + marshal.dumps(code))


def with_bytecode(bundle: bytes, run_path: str) -> bytes:
    """``bundle`` (a zipapp: a shebang line, then the zip) with ``name.pyc`` added beside every
    ``name.py``, compiled as the file at ``run_path`` on the VM (so tracebacks name the same
    paths a source import would)."""
    start = bundle.find(b"PK\x03\x04")
    if start < 0:
        raise ValueError("agent bundle: not a zip archive")
    out = io.BytesIO()
    out.write(bundle[:start])  # the shebang line, as bosh_py/agent/bundle.py writes it
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        names = set(source.namelist())
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data)
            if info.filename.endswith(".py") and info.filename + "c" not in names:
                compiled = zipfile.ZipInfo(info.filename + "c", date_time=info.date_time)
                compiled.external_attr = info.external_attr
                compiled.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(compiled, pyc_bytes(data, f"{run_path}/{info.filename}"))
        target.comment = source.comment
    return out.getvalue()


def shipped_bundle(bundle: Path, run_path: str) -> bytes:
    """The bytes to install at ``run_path`` on a VM: compiled once per bundle file (its
    path, size and mtime) in this process, then the same bytes for every VM."""
    info = bundle.stat()
    key = (str(bundle), info.st_size, info.st_mtime_ns, run_path)
    with _lock:  # VMs are bootstrapped from several threads at once: compile once, not per thread
        if key not in _cache:
            _cache.clear()  # only the current bundle is ever shipped
            _cache[key] = with_bytecode(bundle.read_bytes(), run_path)
        return _cache[key]
