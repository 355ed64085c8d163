"""A paramiko connection to a VM whose host key is pinned: an unknown key is refused."""

from __future__ import annotations

import base64
import io
import socket
import time
from dataclasses import dataclass

import paramiko

from bosh_py.errors import BoshPyError


class SshError(BoshPyError):
    pass


@dataclass
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


def _private_key(pem: str) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem))


def _public_key(line: str) -> paramiko.PKey:
    key_type, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


class PinnedSshClient:
    def __init__(self, host: str, client_private_key: str, host_public_key: str,
                 user: str = "root", port: int = 22) -> None:
        self.host, self.user, self.port = host, user, port
        self._pkey = _private_key(client_private_key)
        self._host_key = _public_key(host_public_key)
        self._client: paramiko.SSHClient | None = None

    def connect(self, timeout: float = 30.0) -> "PinnedSshClient":
        """Connect, retrying refused connections until ``timeout`` (a VM may still be booting)."""
        deadline = time.monotonic() + timeout
        while True:
            client = paramiko.SSHClient()
            client.get_host_keys().add(self.host, self._host_key.get_name(), self._host_key)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            try:
                client.connect(self.host, port=self.port, username=self.user, pkey=self._pkey,
                               timeout=10, banner_timeout=10, auth_timeout=10,
                               allow_agent=False, look_for_keys=False)
                self._client = client
                return self
            except paramiko.BadHostKeyException as error:
                client.close()
                raise SshError(f"Host key of {self.host} does not match the pinned key: refusing") from error
            except (OSError, paramiko.SSHException) as error:
                client.close()
                if time.monotonic() > deadline:
                    raise SshError(f"Cannot SSH to {self.host}:{self.port}: {error}") from error
                time.sleep(0.1)

    @property
    def client(self) -> paramiko.SSHClient:
        if self._client is None:
            raise SshError("not connected")
        return self._client

    def run(self, command: str, check: bool = True, timeout: float = 120) -> CommandResult:
        try:
            _, stdout, stderr = self.client.exec_command(command, timeout=timeout)
            status = stdout.channel.recv_exit_status()
            result = CommandResult(status, stdout.read().decode(errors="replace"),
                                   stderr.read().decode(errors="replace"))
        except (socket.timeout, paramiko.SSHException) as error:
            raise SshError(f"Running a command on {self.host} failed: {error}") from error
        if check and status != 0:
            raise SshError(f"Command on {self.host} exited {status}: {result.stderr.strip()[-500:]}")
        return result

    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        self.put_files([(data, remote_path, mode)])

    def put_files(self, files: list[tuple[bytes, str, int]]) -> None:
        """Write ``(data, remote path, mode)`` files through one SFTP session: each session
        costs the VM an sftp-server process and the director a channel set-up."""
        try:
            with self.client.open_sftp() as sftp:
                for data, remote_path, mode in files:
                    with sftp.open(remote_path, "wb") as remote:
                        remote.set_pipelined(True)
                        remote.write(data)
                    sftp.chmod(remote_path, mode)
        except (OSError, paramiko.SSHException) as error:
            names = ", ".join(path for _, path, _ in files)
            raise SshError(f"Copying {names} to {self.host} failed: {error}") from error

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "PinnedSshClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
