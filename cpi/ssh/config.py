"""The ssh CPI's config: the machines the operator already has, how to reach each (address,
port, user, private key, pinned host key), where the CPI keeps its state on the director's
host and where disks live on the machines. Every error names the key at fault."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bosh_py.errors import BoshPyError
from bosh_py.ssh.pinned_fabric import private_key, public_key
from cpi.protocol import InvalidCall

DEFAULT_DISK_ROOT = "/var/lib/bosh-py-ssh-cpi/disks"
DEFAULT_STEMCELL_FORMATS = ("local-rootfs", "ssh-machine")
_KEYS = {"state_dir", "disk_root", "stemcell_formats", "machines"}
_MACHINE_KEYS = {"name", "address", "port", "user", "private_key", "private_key_path", "host_key"}


@dataclass(frozen=True)
class Machine:
    name: str
    address: str  # where the CPI reaches it, and the IP the director's network gives it
    port: int
    user: str
    private_key: str = field(repr=False)  # PEM; never logged
    host_key: str  # "ssh-ed25519 AAAA...": the only key trusted for this machine


@dataclass(frozen=True)
class Config:
    state_dir: Path
    disk_root: str
    stemcell_formats: tuple[str, ...]
    machines: tuple[Machine, ...]

    def machine(self, name: str) -> Machine | None:
        return next((m for m in self.machines if m.name == name), None)


def _string(doc: dict, key: str, where: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InvalidCall(f"ssh CPI config: {where}{key}: expected a non-empty string")
    return value


def _machine(doc: Any, index: int) -> Machine:
    where = f"machines/{index}/"
    if not isinstance(doc, dict):
        raise InvalidCall(f"ssh CPI config: machines/{index}: expected a mapping")
    unknown = sorted(set(doc) - _MACHINE_KEYS)
    if unknown:
        raise InvalidCall(f"ssh CPI config: {where}{unknown[0]}: unknown key (known: {', '.join(sorted(_MACHINE_KEYS))})")
    name = _string(doc, "name", where)
    address = _string(doc, "address", where)
    try:
        ipaddress.ip_address(address)
    except ValueError as error:
        raise InvalidCall(f"ssh CPI config: {where}address: '{address}' is not an IP address") from error
    port = doc.get("port", 22)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InvalidCall(f"ssh CPI config: {where}port: expected a port number, got {port!r}")
    if ("private_key" in doc) == ("private_key_path" in doc):
        raise InvalidCall(f"ssh CPI config: {where}: give exactly one of private_key and private_key_path")
    if "private_key_path" in doc:
        path = Path(_string(doc, "private_key_path", where))
        try:
            pem = path.read_text()
        except OSError as error:
            raise InvalidCall(f"ssh CPI config: {where}private_key_path: cannot read {path}: "
                              f"{error.strerror}") from error
    else:
        pem = _string(doc, "private_key", where)
    host_key = _string(doc, "host_key", where)
    try:
        private_key(pem, f"{where}private_key")
        public_key(host_key, f"{where}host_key")
    except BoshPyError as error:
        raise InvalidCall(f"ssh CPI config: {error}") from error
    return Machine(name, address, port, _string(doc, "user", where, "root"), pem, host_key.strip())


def parse_config(doc: Any) -> Config:
    if not isinstance(doc, dict):
        raise InvalidCall("ssh CPI config: expected a mapping")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise InvalidCall(f"ssh CPI config: {unknown[0]}: unknown key (known: {', '.join(sorted(_KEYS))})")
    state_dir = Path(_string(doc, "state_dir", ""))
    disk_root = _string(doc, "disk_root", "", DEFAULT_DISK_ROOT)
    if not disk_root.startswith("/") or disk_root.rstrip("/") in ("", "/var/vcap") or \
            disk_root.startswith("/var/vcap/"):
        raise InvalidCall("ssh CPI config: disk_root: expected an absolute path outside /var/vcap "
                          "(delete_vm wipes /var/vcap; disks must outlive it)")
    formats = doc.get("stemcell_formats", list(DEFAULT_STEMCELL_FORMATS))
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise InvalidCall("ssh CPI config: stemcell_formats: expected a non-empty list of format names")
    machines_doc = doc.get("machines")
    if not isinstance(machines_doc, list) or not machines_doc:
        raise InvalidCall("ssh CPI config: machines: expected a non-empty list")
    machines = tuple(_machine(m, i) for i, m in enumerate(machines_doc))
    for kind in ("name", "address"):
        seen: set[str] = set()
        for index, machine in enumerate(machines):
            value = getattr(machine, kind)
            if value in seen:
                raise InvalidCall(f"ssh CPI config: machines/{index}/{kind}: '{value}' is listed twice")
            seen.add(value)
    return Config(state_dir, disk_root.rstrip("/"), tuple(formats), machines)


def load_config(path: str | None) -> Config:
    path = path or os.environ.get("BOSH_PY_CPI_CONFIG")
    if not path:
        raise InvalidCall("ssh CPI: no config (pass its path as the argument or set BOSH_PY_CPI_CONFIG)")
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as error:
        raise InvalidCall(f"ssh CPI config {path}: {error.strerror}") from error
    except ValueError as error:
        raise InvalidCall(f"ssh CPI config {path}: not valid JSON: {error}") from error
    return parse_config(doc)


def secrets_of(config: Config) -> list[str]:
    """Private keys never leave the process (the protocol redacts them from responses)."""
    return [m.private_key for m in config.machines]
