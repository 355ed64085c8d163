"""The upload-stemcell task: read stemcell.MF, hand the image to each CPI that takes it, record
the cid of each copy."""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
from pathlib import Path

import yaml
from sqlalchemy import select

from bosh_py.director.cpi_registry import CpiTarget, stemcell_formats_of, targets_in_force
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


def accepts(cpi_formats: list[str], stemcell_formats: list[str] | None) -> bool:
    """A stemcell that names no formats (an older stemcell.MF) goes to every CPI, as in BOSH."""
    return stemcell_formats is None or bool(set(cpi_formats) & set(stemcell_formats))


async def _formats_of(director: Director, ctx: TaskContext, target: CpiTarget) -> list[str]:
    return stemcell_formats_of(await director.cpi(ctx.log.debug, target.name).call("info"))


async def run(director: Director, ctx: TaskContext, tarball: Path) -> str:
    """Every CPI in force whose ``info.stemcell_formats`` takes the stemcell's formats gets a
    copy (one row per CPI); CPIs that already hold one are skipped, so uploading again after
    adding a CPI fills in just that CPI. No CPI taking it is an error, with nothing recorded."""
    workdir = Path(tempfile.mkdtemp(dir=director.config.data_dir / "tmp"))
    try:
        stage = ctx.log.stage("Update stemcell", 3)
        with stage.task("Extracting stemcell archive"):
            manifest, image = await asyncio.to_thread(read_stemcell, tarball, workdir)
        name, version = manifest["name"], str(manifest["version"])
        wanted = manifest.get("stemcell_formats")
        stemcell_formats = [str(f) for f in wanted] if isinstance(wanted, list) else None
        with director.sessions() as session:
            held = set(session.scalars(select(Stemcell.cpi).where(Stemcell.name == name,
                                                                  Stemcell.version == version)))
        targets = [t for t in targets_in_force(director.config, director.sessions) if t.name not in held]
        if not targets:
            ctx.log.info(f"Stemcell '{name}/{version}' already exists")
            return f"Stemcell {name}/{version} already exists"
        chosen: list[CpiTarget] = []
        refused: list[str] = []
        for target in targets:
            formats = await _formats_of(director, ctx, target)
            if accepts(formats, stemcell_formats):
                chosen.append(target)
            else:
                refused.append(f"'{target.name}' takes {', '.join(formats) or 'no format'}")
        if not chosen:
            if held:
                ctx.log.info(f"Stemcell '{name}/{version}' already exists in every CPI that takes it")
                return f"Stemcell {name}/{version} already exists"
            raise BoshPyError(f"No CPI accepts stemcell {name}/{version} (formats: "
                              f"{', '.join(stemcell_formats or [])}): {'; '.join(refused)}")
        for target in chosen:
            with stage.task(f"Uploading stemcell {name}/{version} to CPI '{target.name}'"):
                cid = await director.cpi(ctx.log.debug, target.name).call(
                    "create_stemcell", str(image), manifest.get("cloud_properties") or {})
            with stage.task(f"Save stemcell {name}/{version} ({cid}) in CPI '{target.name}'"):
                with director.sessions.begin() as session:
                    session.add(Stemcell(name=name, version=version, operating_system=manifest["operating_system"],
                                         cid=cid, cpi=target.name))
                    session.add(Event(action="create", object_type="stemcell", object_name=f"{name}/{version}",
                                      task_id=ctx.id, context={"cpi": target.name, "cid": cid}))
        return f"/stemcells/{name}/{version}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        tarball.unlink(missing_ok=True)
