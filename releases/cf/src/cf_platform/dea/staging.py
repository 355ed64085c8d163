"""``staging.<dea id>.start``: app bits in, droplet out.

Fetch the bits (zip) from the cloud controller, unpack them safely, run the buildpacks,
pack ``app/`` plus ``staging_info.yml`` into a tar.gz droplet, PUT it to the CC and answer
``{droplet_sha1, detected_buildpack, start_command, log}``, or ``{error, log}``. Synchronous
on purpose: the agent runs it in a worker thread, and tests call it directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import archive, buildpacks, transfer

log = logging.getLogger(__name__)

STAGING_INFO = "staging_info.yml"   # JSON inside: valid YAML, readable with the stdlib


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


def stage(message: dict[str, Any], staging_dir: Path, cache_root: Path, buildpacks_dir: Path,
          buildpack_order: tuple[str, ...] | list[str], max_bytes: int, timeout: float) -> dict[str, Any]:
    """Do one staging task; never raises: failures become ``{error, log}``."""
    lines: list[str] = []
    work = staging_dir / uuid.uuid4().hex
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
        available = buildpacks.available(buildpacks_dir, buildpack_order)
        staged = buildpacks.stage(available, app_dir, cache_root / _cache_key(request.app_id), lines,
                                  request.buildpack, compile_timeout=timeout)
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
