"""``staging.<dea id>.start``: app bits in, droplet out.

Fetch the bits (zip) from the cloud controller, unpack them safely, run the buildpacks,
pack ``app/`` plus ``staging_info.yml`` into a tar.gz droplet, PUT it to the CC and answer
``{droplet_sha1, detected_buildpack, start_command, log}``, or ``{error, log}``. Synchronous
on purpose: the agent runs it in a worker thread, and tests call it directly.

The buildpacks run the user's code (compileall imports nothing, but a buildpack may run
anything the app ships), so each script runs in its own container (``ContainerRunner``):
as ``staging_uid`` with no capabilities, in a root holding the stack, the app at
/home/vcap/app (writable), the buildpacks at /buildpacks (read-only) and the app's cache at
/home/vcap/cache; loopback only, ``staging_memory_mb`` and ``staging_timeout``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import archive, buildpacks, transfer
from .cgroups import CgroupSet
from .config import DeaConfig
from .container import SETUP_FAILED, Bind, Container, ContainerSpec

log = logging.getLogger(__name__)

STAGING_INFO = "staging_info.yml"   # JSON inside: valid YAML, readable with the stdlib
APP = "/home/vcap/app"
CACHE = "/home/vcap/cache"
BUILDPACKS = "/buildpacks"
MAX_OUTPUT = 1 << 20


class StagingError(Exception):
    pass


@dataclass(frozen=True)
class StagingRequest:
    app_id: str
    name: str
    bits_uri: str
    droplet_upload_uri: str
    buildpack: str | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "StagingRequest":
        app_id = message.get("app_id")
        bits = message.get("bits_uri") or message.get("download_uri")
        upload = message.get("droplet_upload_uri") or message.get("upload_uri")
        if not app_id or not bits or not upload:
            raise StagingError("staging request needs app_id, bits_uri and droplet_upload_uri")
        return cls(str(app_id), str(message.get("name") or app_id), str(bits), str(upload),
                   message.get("buildpack") or None)


def staging_info(detected_buildpack: str, start_command: str) -> bytes:
    return json.dumps({"detected_buildpack": detected_buildpack, "start_command": start_command},
                      indent=1).encode() + b"\n"


def _cache_key(app_id: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]{1,100}", app_id):
        return app_id
    return hashlib.sha1(app_id.encode()).hexdigest()


def _give_to(path: Path, uid: int) -> None:
    """Hand a directory tree to the staging user, never following a link."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            os.lchown(name, uid, uid)


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_OUTPUT).decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass
class ContainerRunner:
    """Runs each buildpack script in a fresh staging container (see the module's docstring)."""

    config: DeaConfig
    work: Path
    app_dir: Path
    cache_dir: Path
    cgroups_enabled: bool
    steps: int = 0

    def __call__(self, buildpack: buildpacks.Buildpack, script: str, timeout: float) -> buildpacks.Completed:
        self.steps += 1
        name = f"staging-{self.work.name[:12]}-{self.steps}"
        step_dir = self.work / f"step-{self.steps}"
        step_dir.mkdir(mode=0o700)
        argv = (f"{BUILDPACKS}/{buildpack.name}/bin/{script}", APP, *([CACHE] if script == "compile" else []))
        spec = ContainerSpec(
            instance_id=name, directory=step_dir, uid=self.config.staging_uid,
            mem_mb=self.config.staging_memory_mb, fds=4096, pids_max=self.config.pids_max,
            env=dict(buildpacks.ENV), argv=argv, workdir="/",
            binds=(Bind(self.app_dir, APP, True), Bind(buildpack.path.parent, BUILDPACKS),
                   Bind(self.cache_dir, CACHE, True)))
        cgroups = (CgroupSet(self.config.cgroup_root, self.config.cgroup_parent, name)
                   if self.cgroups_enabled else None)
        try:
            code = Container(spec, cgroups).run(timeout)
        except TimeoutError:
            raise buildpacks.BuildpackError(f"buildpack {buildpack.name}: {script} did not finish within "
                                   f"{timeout:g} s") from None
        setup_log = _read(spec.logs_dir / "container.log").strip()
        if code == SETUP_FAILED and setup_log:  # only the keeper and init write there, never the script
            reason = setup_log.splitlines()[-1:]
            raise buildpacks.BuildpackError(f"buildpack {buildpack.name}: the staging container failed "
                                            f"to start: {reason[0] if reason else '?'}")
        return buildpacks.Completed(code, _read(spec.logs_dir / "stdout.log"), _read(spec.logs_dir / "stderr.log"))


def stage(message: dict[str, Any], config: DeaConfig, cgroups_enabled: bool) -> dict[str, Any]:
    """Do one staging task; never raises: failures become ``{error, log}``."""
    lines: list[str] = []
    work = config.staging_dir / uuid.uuid4().hex
    max_bytes = config.max_bits_mb * 1024 * 1024
    started = time.monotonic()
    try:
        request = StagingRequest.from_message(message)
        lines.append(f"-----> Downloading app bits of {request.name}")
        work.mkdir(parents=True, mode=0o700)
        bits = work / "bits.zip"
        transfer.download(request.bits_uri, bits, max_bytes)
        app_dir = work / "app"
        count = archive.unzip(bits, app_dir, max_bytes)
        bits.unlink()
        lines.append(f"-----> Unpacked {count} files")
        cache_dir = config.base_dir / "buildpack_cache" / _cache_key(request.app_id)
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(cache_dir.parent, 0o700)
        _give_to(app_dir, config.staging_uid)
        _give_to(cache_dir, config.staging_uid)
        available = buildpacks.available(config.buildpacks_dir, config.buildpacks)
        runner = ContainerRunner(config, work, app_dir, cache_dir, cgroups_enabled)
        staged = buildpacks.stage(available, app_dir, runner, lines, request.buildpack,
                                  compile_timeout=config.staging_timeout)
        droplet = work / "droplet.tgz"
        archive.pack_droplet(app_dir, {STAGING_INFO: staging_info(staged.buildpack, staged.start_command)},
                             droplet)
        sha1 = transfer.sha1_of(droplet)
        lines.append(f"-----> Uploading droplet ({droplet.stat().st_size} bytes, sha1 {sha1})")
        transfer.upload(request.droplet_upload_uri, droplet)
        lines.append(f"-----> Staged in {time.monotonic() - started:.1f} s")
        return {"droplet_sha1": sha1, "detected_buildpack": staged.buildpack,
                "start_command": staged.start_command, "log": "\n".join(lines) + "\n"}
    except (StagingError, buildpacks.BuildpackError, transfer.TransferError, archive.UnsafeArchive) as error:
        lines.append(f" !     Staging failed: {error}")
        return {"error": str(error), "log": "\n".join(lines) + "\n"}
    except Exception as error:  # a bug must still answer the CC, not leave it waiting 120 s
        log.exception("staging failed")
        lines.append(f" !     Staging failed: {error!r}")
        return {"error": f"internal error while staging: {error}", "log": "\n".join(lines) + "\n"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
