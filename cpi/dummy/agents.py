"""A dummy VM's agent: a real ``python -m bosh_py.agent`` process under the VM's directory
(BOSH_PY_AGENT_ROOT), in its own session, its persistent disk "mounted" as a symbolic link
(BOSH_PY_AGENT_DISK_MODE=link). Stopping a VM kills the agent and every process it started,
found by parentage and by working directory, never by name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import bosh_py
from cpi.dummy.config import DummyConfig

SETTINGS = "var/vcap/bosh/settings.json"


def rewrite_host(url: str, host: str | None) -> str:
    """``url`` with its host replaced (user, password and port kept)."""
    if not host or not url:
        return url
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def agent_settings(settings: dict[str, Any], config: DummyConfig) -> dict[str, Any]:
    """The director's settings with mbus/blobstore pointed at ``agent_host_rewrite``: the
    director names the host a VM on its bridge would use, these agents run on the host."""
    out = dict(settings)
    out["mbus"] = rewrite_host(str(settings.get("mbus") or ""), config.agent_host_rewrite)
    blobstore = dict(settings.get("blobstore") or {})
    for key in ("url", "endpoint"):
        if isinstance(blobstore.get(key), str):
            blobstore[key] = rewrite_host(blobstore[key], config.agent_host_rewrite)
    options = dict(blobstore.get("options") or {})
    for key in ("url", "endpoint"):
        if isinstance(options.get(key), str):
            options[key] = rewrite_host(options[key], config.agent_host_rewrite)
    if options:
        blobstore["options"] = options
    out["blobstore"] = blobstore
    return out


def write_settings(vm_dir: Path, settings: dict[str, Any]) -> Path:
    path = vm_dir / SETTINGS
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(settings, stream)
    return path


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (tells a PID's reuse apart), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[19]) if fields[0] != "Z" else None


def alive(record: dict[str, Any]) -> bool:
    pid, started = record.get("pid"), record.get("pid_started")
    return isinstance(pid, int) and started is not None and start_time(pid) == started


def start_agent(config: DummyConfig, vm_dir: Path) -> dict[str, Any]:
    """Start the agent for ``vm_dir`` (its settings.json must exist); its pid record."""
    package_root = str(Path(bosh_py.__file__).resolve().parent.parent)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BOSH_PY_AGENT_ROOT": str(vm_dir),
           "BOSH_PY_AGENT_DISK_MODE": "link", "PYTHONPATH": package_root}
    with open(vm_dir / "agent.out", "ab") as out:
        proc = subprocess.Popen([config.python, "-m", "bosh_py.agent", "--settings", str(vm_dir / SETTINGS)],
                                env=env, cwd=vm_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
    return {"pid": proc.pid, "pid_started": start_time(proc.pid)}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def processes_working_in(directory: Path) -> set[int]:
    """Processes whose working directory is inside ``directory`` (job processes, scripts)."""
    root = str(directory)
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == root or cwd.startswith(root + "/"):
                found.add(int(entry))
    return found


def vm_processes(record: dict[str, Any], vm_dir: Path) -> set[int]:
    """The agent (if it is still ours), everything under it, and what works in the VM dir."""
    found = processes_working_in(vm_dir) - {os.getpid()}
    if alive(record):
        tree, todo = _children(), [int(record["pid"])]
        while todo:
            pid = todo.pop()
            found.add(pid)
            todo.extend(tree.get(pid, []))
    return found


def stop_vm_processes(record: dict[str, Any], vm_dir: Path, wait: float = 5.0) -> None:
    """SIGKILL the VM's processes (and their process groups), then wait for them to go."""
    for _round in range(3):
        pids = vm_processes(record, vm_dir)
        if not pids:
            return
        for pid in pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(start_time(pid) is not None for pid in pids):
            time.sleep(0.02)
