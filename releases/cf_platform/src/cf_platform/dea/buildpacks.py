"""Running buildpacks: ``bin/detect <app>``, ``bin/compile <app> <cache>``, ``bin/release <app>``.

The buildpack contract of Heroku and Cloud Foundry: the first buildpack (in configured
order) whose detect exits 0 stages the app; release prints YAML whose
``default_process_types.web`` is the start command, unless the app's ``Procfile`` has a
``web:`` line, which wins. The stemcell has no YAML library, and release output is a tiny,
known shape, so it is read by a small parser here.

Where a script runs is the caller's ``ScriptRunner``: staging runs each one in a container
as an unprivileged user (``staging.ContainerRunner``); ``HostRunner`` runs them directly
and is for testing the scripts themselves only. The app directory is the user's: after a
script ran in it, it is read here without following links.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

NO_BUILDPACK = "None of the buildpacks detected a compatible application"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
       "HOME": "/tmp"}
SCRIPTS = ("detect", "compile", "release")
MAX_PROCFILE = 64 * 1024


class BuildpackError(Exception):
    pass


@dataclass(frozen=True)
class Buildpack:
    name: str
    path: Path

    def script(self, name: str) -> Path:
        return self.path / "bin" / name


@dataclass(frozen=True)
class Staged:
    buildpack: str           # the detected (or requested) buildpack's name
    start_command: str
    process_types: dict[str, str]


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class ScriptRunner(Protocol):
    def __call__(self, buildpack: Buildpack, script: str, timeout: float) -> Completed:
        """Run ``bin/<script>`` of ``buildpack`` with the app (and, for compile, the cache)
        as arguments; raise ``BuildpackError`` when it cannot run or runs out of time."""
        ...


@dataclass(frozen=True)
class HostRunner:
    """Runs the scripts on this machine, as this user: for tests of the scripts only."""

    app_dir: Path
    cache_dir: Path

    def __call__(self, buildpack: Buildpack, script: str, timeout: float) -> Completed:
        args = [str(self.app_dir)] + ([str(self.cache_dir)] if script == "compile" else [])
        try:
            done = subprocess.run([str(buildpack.script(script)), *args], capture_output=True, text=True,
                                  env=ENV, timeout=timeout, stdin=subprocess.DEVNULL, cwd="/")
        except subprocess.TimeoutExpired:
            raise BuildpackError(f"{buildpack.name} {script} did not finish within {timeout:g} s") from None
        except OSError as error:
            raise BuildpackError(f"{buildpack.name} {script}: {error}") from None
        return Completed(done.returncode, done.stdout, done.stderr)


def available(buildpacks_dir: Path, order: tuple[str, ...] | list[str]) -> list[Buildpack]:
    """Configured buildpacks that exist, in detect order."""
    found = []
    for name in order:
        path = buildpacks_dir / name
        if (path / "bin" / "detect").is_file():
            found.append(Buildpack(name, path))
    return found


def _keep_output(done: Completed, log: list[str]) -> None:
    for stream in (done.stdout, done.stderr):
        if stream and stream.strip():
            log.append(stream.rstrip("\n"))


def detect(buildpacks: list[Buildpack], run: ScriptRunner, log: list[str],
           timeout: float = 30) -> tuple[Buildpack, str]:
    for buildpack in buildpacks:
        try:
            done = run(buildpack, "detect", timeout)
        except BuildpackError as error:
            log.append(f"-----> {buildpack.name}: detect failed: {error}")
            continue
        if done.returncode == 0:
            name = done.stdout.strip().splitlines()[0] if done.stdout.strip() else buildpack.name
            log.append(f"-----> Detected {name} (buildpack {buildpack.name})")
            return buildpack, name
    raise BuildpackError(NO_BUILDPACK)


def compile_app(buildpack: Buildpack, run: ScriptRunner, log: list[str], timeout: float) -> None:
    done = run(buildpack, "compile", timeout)
    _keep_output(done, log)
    if done.returncode != 0:
        raise BuildpackError(f"buildpack {buildpack.name} failed to compile the app (exit {done.returncode})")


def release(buildpack: Buildpack, run: ScriptRunner, log: list[str], timeout: float = 30) -> dict[str, str]:
    done = run(buildpack, "release", timeout)
    if done.returncode != 0:
        log.append(done.stderr.rstrip("\n"))
        raise BuildpackError(f"buildpack {buildpack.name}: release exited {done.returncode}")
    return parse_release(done.stdout)


def parse_release(text: str) -> dict[str, str]:
    """``default_process_types`` from bin/release's YAML (JSON is accepted too).

    Handles the block form (``default_process_types:`` then indented ``name: command``
    lines) and ``default_process_types: {}``; values may be quoted.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
            return {str(k): str(v) for k, v in (data.get("default_process_types") or {}).items()}
        except ValueError:
            pass
    types: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#") or line.strip() == "---":
            continue
        indented = line[0] in " \t"
        if not indented:
            key, _, rest = line.partition(":")
            inside = key.strip() == "default_process_types" and not rest.strip()
            continue
        if inside:
            key, sep, value = line.strip().partition(":")
            if sep:
                types[key.strip()] = _unquote(value.strip())
    return types


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner.replace("''", "'")
    return value


def read_app_file(app_dir: Path, name: str, max_bytes: int = MAX_PROCFILE) -> str | None:
    """A regular file at the top of the app, read without following a link (the app's own
    code made it: a ``Procfile`` linked to a VM file must not be read as root)."""
    try:
        fd = os.open(app_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(max_bytes).decode("utf-8", "replace")


def procfile_web(app_dir: Path) -> str | None:
    """The ``web:`` command of the app's Procfile, if it has one."""
    text = read_app_file(app_dir, "Procfile")
    if text is None:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "web" and value.strip():
            return value.strip()
    return None


def stage(buildpacks: list[Buildpack], app_dir: Path, run: ScriptRunner, log: list[str],
          requested: str | None = None, compile_timeout: float = 600) -> Staged:
    """Detect (unless a buildpack is requested by name), compile, release; pick the start
    command (Procfile web wins)."""
    if requested:
        chosen = [b for b in buildpacks if b.name == requested]
        if not chosen:
            raise BuildpackError(f"buildpack {requested!r} is not installed on this DEA "
                                 f"(available: {', '.join(b.name for b in buildpacks) or 'none'})")
        buildpack, detected = chosen[0], requested
        log.append(f"-----> Using buildpack {requested} (requested)")
    else:
        buildpack, detected = detect(buildpacks, run, log)
    compile_app(buildpack, run, log, compile_timeout)
    process_types = release(buildpack, run, log)
    web = procfile_web(app_dir)
    if web:
        log.append(f"-----> Start command from Procfile: {web}")
    else:
        web = process_types.get("web")
        if not web:
            raise BuildpackError("no start command: the buildpack gives no default web process "
                                 "and the app has no Procfile with a web: line")
        log.append(f"-----> Start command from buildpack {buildpack.name}: {web}")
    return Staged(detected, web, process_types)
