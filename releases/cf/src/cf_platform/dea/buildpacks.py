"""Running buildpacks: ``bin/detect <app>``, ``bin/compile <app> <cache>``, ``bin/release <app>``.

The buildpack contract of Heroku and Cloud Foundry: the first buildpack (in configured
order) whose detect exits 0 stages the app; release prints YAML whose
``default_process_types.web`` is the start command, unless the app's ``Procfile`` has a
``web:`` line, which wins. The stemcell has no YAML library, and release output is a tiny,
known shape, so it is read by a small parser here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

NO_BUILDPACK = "None of the buildpacks detected a compatible application"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
       "HOME": "/tmp"}


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


def available(buildpacks_dir: Path, order: tuple[str, ...] | list[str]) -> list[Buildpack]:
    """Configured buildpacks that exist, in detect order."""
    found = []
    for name in order:
        path = buildpacks_dir / name
        if (path / "bin" / "detect").is_file():
            found.append(Buildpack(name, path))
    return found


def _run(argv: list[str], log: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd="/")
    except subprocess.TimeoutExpired:
        raise BuildpackError(f"{argv[0]} did not finish within {timeout:g} s") from None
    except OSError as error:
        raise BuildpackError(f"{argv[0]}: {error}") from None
    for stream in (done.stdout, done.stderr):
        if stream and stream.strip():
            log.append(stream.rstrip("\n"))
    return done


def detect(buildpacks: list[Buildpack], app_dir: Path, log: list[str], timeout: float = 30) -> tuple[Buildpack, str]:
    for buildpack in buildpacks:
        try:
            done = subprocess.run([str(buildpack.script("detect")), str(app_dir)], capture_output=True,
                                  text=True, env=ENV, timeout=timeout, stdin=subprocess.DEVNULL, cwd="/")
        except (OSError, subprocess.TimeoutExpired) as error:
            log.append(f"-----> {buildpack.name}: detect failed: {error}")
            continue
        if done.returncode == 0:
            name = done.stdout.strip().splitlines()[0] if done.stdout.strip() else buildpack.name
            log.append(f"-----> Detected {name} (buildpack {buildpack.name})")
            return buildpack, name
    raise BuildpackError(NO_BUILDPACK)


def compile_app(buildpack: Buildpack, app_dir: Path, cache_dir: Path, log: list[str], timeout: float) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = _run([str(buildpack.script("compile")), str(app_dir), str(cache_dir)], log, timeout)
    if done.returncode != 0:
        raise BuildpackError(f"buildpack {buildpack.name} failed to compile the app (exit {done.returncode})")


def release(buildpack: Buildpack, app_dir: Path, log: list[str], timeout: float = 30) -> dict[str, str]:
    try:
        done = subprocess.run([str(buildpack.script("release")), str(app_dir)], capture_output=True,
                              text=True, env=ENV, timeout=timeout, stdin=subprocess.DEVNULL, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BuildpackError(f"buildpack {buildpack.name}: release failed: {error}") from None
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


def procfile_web(app_dir: Path) -> str | None:
    """The ``web:`` command of the app's Procfile, if it has one."""
    procfile = app_dir / "Procfile"
    if not procfile.is_file():
        return None
    for line in procfile.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "web" and value.strip():
            return value.strip()
    return None


def stage(buildpacks: list[Buildpack], app_dir: Path, cache_dir: Path, log: list[str],
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
        buildpack, detected = detect(buildpacks, app_dir, log)
    compile_app(buildpack, app_dir, cache_dir, log, compile_timeout)
    process_types = release(buildpack, app_dir, log)
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
