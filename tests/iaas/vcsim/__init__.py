"""govmomi's vcsim, the vSphere API simulator, for the libcloud CPI's vSphere tests (a test
harness, not a product).

``build.py`` builds it once from Debian's packages (cached by recipe), ``cert.py`` makes the
2048-bit TLS certificate it serves, and ``Vcsim.start()`` runs it on 127.0.0.1 on a free port
with a fresh login, as a child process stopped by PID. The inventory is vcsim's VPX model: one
datacenter ``DC0`` with a cluster ``DC0_C0`` (one host), a standalone host, the datastore
``LocalDS_0`` (a directory under the run's own TMPDIR), the networks ``VM Network`` and
``DC0_DVPG0`` (a distributed port group), and one VM per resource pool.

What vcsim 0.24 lacks or does differently (tests must not rely on it): no RebootGuest (the CPI
resets), no ExtendVirtualDisk, VMDK files are empty (no capacity is reported for a disk file),
tasks complete before the call returns, a clone copies the source's CPU and memory and ignores
those of the clone spec (the CPI reconfigures after cloning, as it must on vCenter anyway).
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import signal
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.iaas.vcsim.cert import write_certificate

START_TIMEOUT = 30.0


@dataclass
class Vcsim:
    """A running vcsim this test run started; ``stop()`` ends it by PID and removes its files."""

    process: subprocess.Popen
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    ca_cert_pem: str = field(repr=False)
    workdir: Path = field(repr=False)

    @classmethod
    def start(cls) -> Vcsim:
        from tests.iaas.vcsim.build import vcsim_binary  # here: keeps ``-m tests.iaas.vcsim.build`` clean

        binary = vcsim_binary()
        workdir = Path(tempfile.mkdtemp(prefix="bosh-py-vcsim-"))
        try:
            cert, key = write_certificate(workdir)
            (workdir / "tmp").mkdir()
            username, password = "bosh-" + secrets.token_hex(4), secrets.token_urlsafe(24)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(workdir / "tmp"),
                   "VCSIM_USERNAME": username, "VCSIM_PASSWORD": password}
            with open(workdir / "vcsim.log", "wb") as log:
                process = subprocess.Popen([str(binary), "-l", "127.0.0.1:0", "-tlscert", str(cert),
                                            "-tlskey", str(key)], env=env, stdout=subprocess.PIPE,
                                           stderr=log, cwd=workdir)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        server = cls(process, "127.0.0.1", 0, username, password, cert.read_text(), workdir)
        try:
            server.port = server._read_port()
        except BaseException:
            server.stop()
            raise
        return server

    def _read_port(self) -> int:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(START_TIMEOUT):
                raise RuntimeError(f"vcsim did not start within {START_TIMEOUT:.0f}s: {self.log()}")
        line = self.process.stdout.readline().decode().strip()
        host, _, port = line.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit():
            raise RuntimeError(f"vcsim did not start (said {line!r}): {self.log()}")
        return int(port)

    def log(self) -> str:
        path = self.workdir / "vcsim.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM (vcsim then removes its datastore directories), SIGKILL if it hangs; the
        working directory, datastores included, goes either way."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # by PID: this process is ours
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def ca_cert_path(self) -> Path:
        return self.workdir / "cert.pem"

    def connect(self) -> Any:
        """pyvmomi's ServiceInstance, verifying vcsim's certificate: the tests' own view of the
        inventory, independent of the CPI."""
        from pyVim.connect import SmartConnect

        context = ssl.create_default_context(cafile=str(self.ca_cert_path))
        return SmartConnect(host=self.host, port=self.port, user=self.username, pwd=self.password,
                            sslContext=context)


__all__ = ["Vcsim"]
