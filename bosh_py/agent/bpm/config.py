"""``/var/vcap/jobs/JOB/config/bpm.yml``: parsed and validated into plain data.

Every error names the job, the file and the field (``job 'kv' config/bpm.yml:
processes/0/limits/memory: ...``), so an operator fixes the template without reading code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from bosh_py.agent.bpm.capabilities import CAPABILITIES
from bosh_py.agent.bpm.errors import BpmError
from bosh_py.agent.monitfile import _load

CONFIG_PATH = "config/bpm.yml"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SIZE = re.compile(r"^(\d+)\s*([KMGT]?)B?$", re.IGNORECASE)
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
# bpm allows shared volumes only on the VM's disks, never over the stemcell.
VOLUME_ROOTS = ("/var/vcap/data", "/var/vcap/store", "/var/vcap/sys/run", "/var/vcap/sys/log")


@dataclass(frozen=True)
class Volume:
    path: str
    writable: bool = False
    allow_executions: bool = False
    mount_only: bool = False


@dataclass(frozen=True)
class Limits:
    memory: int | None = None      # bytes
    open_files: int | None = None
    processes: int | None = None


@dataclass(frozen=True)
class BpmProcess:
    job: str
    name: str
    executable: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    limits: Limits = Limits()
    ephemeral_disk: bool = False
    persistent_disk: bool = False
    additional_volumes: tuple[Volume, ...] = ()
    capabilities: tuple[str, ...] = ()
    pre_start: str | None = None
    privileged: bool = False

    @property
    def key(self) -> str:
        return f"{self.job}/{self.name}"


@dataclass
class _Where:
    job: str
    path: str = ""

    def at(self, part: str | int) -> _Where:
        return _Where(self.job, f"{self.path}/{part}" if self.path else str(part))

    def error(self, message: str) -> BpmError:
        field_part = f" {self.path}:" if self.path else ":"
        return BpmError(f"job '{self.job}' {CONFIG_PATH}:{field_part} {message}")


def parse_size(value: Any, where: _Where) -> int:
    """bpm's memory sizes: an integer of bytes or ``512M``, ``3G``, ``1024K``."""
    if isinstance(value, bool):
        raise where.error("expected a size such as 512M or 1G")
    if isinstance(value, int):
        size = value
    else:
        match = SIZE.match(str(value).strip())
        if not match:
            raise where.error(f"expected a size such as 512M or 1G, got {value!r}")
        size = int(match.group(1)) * UNITS[match.group(2).upper()]
    if size <= 0:
        raise where.error("must be greater than 0")
    return size


def _positive_int(value: Any, where: _Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise where.error(f"expected a positive integer, got {value!r}")
    return value


def _bool(value: Any, where: _Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {value!r}")
    return value


def _abs_path(value: Any, where: _Where) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise where.error(f"expected an absolute path, got {value!r}")
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise where.error(f"'..' is not allowed in {value!r}")
    return str(PurePosixPath(value))


def _mapping(value: Any, where: _Where) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.error("expected a mapping")
    return value


def _check_keys(data: dict, allowed: set[str], where: _Where) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise where.error(f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _env(value: Any, where: _Where) -> tuple[tuple[str, str], ...]:
    data = _mapping(value, where)
    env = []
    for key, val in data.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            raise where.error(f"invalid variable name {key!r}")
        if isinstance(val, (dict, list)) or val is None:
            raise where.at(key).error("expected a string, number or boolean")
        env.append((key, str(val).lower() if isinstance(val, bool) else str(val)))
    return tuple(sorted(env))


def _limits(value: Any, where: _Where) -> Limits:
    data = _mapping(value, where)
    _check_keys(data, {"memory", "open_files", "processes"}, where)
    return Limits(
        memory=parse_size(data["memory"], where.at("memory")) if data.get("memory") is not None else None,
        open_files=_positive_int(data["open_files"], where.at("open_files")) if data.get("open_files") is not None else None,
        processes=_positive_int(data["processes"], where.at("processes")) if data.get("processes") is not None else None)


def _volumes(value: Any, where: _Where, privileged: bool) -> tuple[Volume, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.error("expected a list")
    volumes = []
    for i, item in enumerate(value):
        at = where.at(i)
        item = _mapping(item, at)
        _check_keys(item, {"path", "writable", "allow_executions", "mount_only"}, at)
        path = _abs_path(item.get("path"), at.at("path"))
        if not privileged and not any(path.startswith(root + "/") for root in VOLUME_ROOTS):
            raise at.at("path").error(f"{path} is outside {', '.join(VOLUME_ROOTS)} "
                                      "(only unsafe.privileged jobs may mount other paths)")
        volumes.append(Volume(path, _bool(item.get("writable", False), at.at("writable")),
                              _bool(item.get("allow_executions", False), at.at("allow_executions")),
                              _bool(item.get("mount_only", False), at.at("mount_only"))))
    return tuple(volumes)


def _capabilities(value: Any, where: _Where) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise where.error("expected a list of capability names such as NET_BIND_SERVICE")
    names = []
    for i, name in enumerate(value):
        text = str(name).upper().removeprefix("CAP_")
        if text not in CAPABILITIES:
            raise where.at(i).error(f"unknown capability {name!r}")
        names.append(text)
    return tuple(sorted(set(names)))


PROCESS_KEYS = {"name", "executable", "args", "env", "workdir", "limits", "ephemeral_disk",
                "persistent_disk", "additional_volumes", "capabilities", "hooks", "unsafe"}


def _process(job: str, data: Any, where: _Where) -> BpmProcess:
    data = _mapping(data, where)
    _check_keys(data, PROCESS_KEYS, where)
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise where.at("name").error(f"expected a name of letters, digits, '.', '_', '-', got {name!r}")
    executable = _abs_path(data.get("executable"), where.at("executable"))
    args = data.get("args") or []
    if not isinstance(args, list) or any(isinstance(a, (dict, list)) or a is None for a in args):
        raise where.at("args").error("expected a list of strings")
    workdir = data.get("workdir")
    unsafe = _mapping(data.get("unsafe"), where.at("unsafe"))
    _check_keys(unsafe, {"privileged"}, where.at("unsafe"))
    privileged = _bool(unsafe.get("privileged", False), where.at("unsafe/privileged"))
    hooks = _mapping(data.get("hooks"), where.at("hooks"))
    _check_keys(hooks, {"pre_start"}, where.at("hooks"))
    pre_start = hooks.get("pre_start")
    return BpmProcess(
        job=job, name=name, executable=executable, args=tuple(str(a) for a in args),
        env=_env(data.get("env"), where.at("env")),
        workdir=_abs_path(workdir, where.at("workdir")) if workdir is not None else None,
        limits=_limits(data.get("limits"), where.at("limits")),
        ephemeral_disk=_bool(data.get("ephemeral_disk", False), where.at("ephemeral_disk")),
        persistent_disk=_bool(data.get("persistent_disk", False), where.at("persistent_disk")),
        additional_volumes=_volumes(data.get("additional_volumes"), where.at("additional_volumes"), privileged),
        capabilities=_capabilities(data.get("capabilities"), where.at("capabilities")),
        pre_start=_abs_path(pre_start, where.at("hooks/pre_start")) if pre_start is not None else None,
        privileged=privileged)


def parse_bpm_config(job: str, text: str) -> list[BpmProcess]:
    """All processes of a job's bpm.yml, in file order."""
    where = _Where(job)
    try:
        data = _load(text)
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError, or ValueError from the JSON fallback
        raise where.error(f"not valid YAML: {e}") from None
    data = _mapping(data, where)
    _check_keys(data, {"processes"}, where)
    processes = data.get("processes")
    if not isinstance(processes, list) or not processes:
        raise where.at("processes").error("expected a non-empty list")
    result: list[BpmProcess] = []
    for i, item in enumerate(processes):
        process = _process(job, item, where.at("processes").at(i))
        if any(p.name == process.name for p in result):
            raise where.at("processes").at(i).at("name").error(f"duplicate process {process.name!r}")
        result.append(process)
    return result


def find_process(processes: list[BpmProcess], job: str, name: str) -> BpmProcess:
    for process in processes:
        if process.name == name:
            return process
    known = ", ".join(p.name for p in processes)
    raise BpmError(f"job '{job}' {CONFIG_PATH}: no process named {name!r} (processes: {known})")
