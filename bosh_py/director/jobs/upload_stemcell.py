"""The upload-stemcell task: read stemcell.MF, hand the image to the CPI, record the cid."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
from pathlib import Path

import yaml
from sqlalchemy import select

from bosh_py.director.models import Event, Stemcell
from bosh_py.director.services import Director
from bosh_py.director.tasks import TaskContext
from bosh_py.errors import BoshPyError


def read_stemcell(tarball: Path, workdir: Path) -> tuple[dict, Path]:
    """Return the stemcell manifest and the extracted image path; only those two members are read."""
    try:
        with tarfile.open(tarball) as archive:
            members = {m.name.lstrip("./"): m for m in archive.getmembers()}
            if "stemcell.MF" not in members or "image" not in members:
                raise BoshPyError("Not a stemcell tarball: it needs stemcell.MF and image at its top level")
            manifest = yaml.safe_load(archive.extractfile(members["stemcell.MF"]).read())  # type: ignore[union-attr]
            image = workdir / "image"
            source = archive.extractfile(members["image"])
            if source is None:
                raise BoshPyError("Stemcell image is not a regular file")
            with image.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, OSError, yaml.YAMLError) as error:
        raise BoshPyError(f"Cannot read stemcell tarball: {error}") from error
    for key in ("name", "version", "operating_system"):
        if not manifest or key not in manifest:
            raise BoshPyError(f"stemcell.MF: missing required key '{key}'")
    return manifest, image


async def run(director: Director, ctx: TaskContext, tarball: Path) -> str:
    workdir = Path(tempfile.mkdtemp(dir=director.config.data_dir / "tmp"))
    try:
        stage = ctx.log.stage("Update stemcell", 3)
        with stage.task("Extracting stemcell archive"):
            manifest, image = await asyncio.to_thread(read_stemcell, tarball, workdir)
        name, version = manifest["name"], str(manifest["version"])
        with director.sessions() as session:
            exists = session.scalars(select(Stemcell).where(Stemcell.name == name, Stemcell.version == version)).first()
        if exists:
            ctx.log.info(f"Stemcell '{name}/{version}' already exists")
            return f"Stemcell {name}/{version} already exists"
        with stage.task(f"Uploading stemcell {name}/{version} to the cloud"):
            cid = await director.cpi(ctx.log.debug).call("create_stemcell", str(image),
                                                         manifest.get("cloud_properties") or {})
        with stage.task(f"Save stemcell {name}/{version} ({cid})"):
            with director.sessions.begin() as session:
                session.add(Stemcell(name=name, version=version, operating_system=manifest["operating_system"], cid=cid))
                session.add(Event(action="create", object_type="stemcell", object_name=f"{name}/{version}", task_id=ctx.id))
        return f"/stemcells/{name}/{version}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        tarball.unlink(missing_ok=True)
