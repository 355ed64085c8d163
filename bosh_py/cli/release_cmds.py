"""Release and stemcell commands: create-release, upload-release, releases,
upload-stemcell, stemcells, delete-stemcell, `stemcell build-local` for the local CPI's stemcell and
`stemcell build-light` for a cloud's light stemcell."""

from __future__ import annotations

from pathlib import Path

import click

from bosh_py.cli.common import client, confirm, follow, json_option, yes_option
from bosh_py.cli.output import console, print_table
from bosh_py.errors import BoshPyError
from bosh_py.release.create import create_release


@click.command("create-release")
@click.argument("release_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."))
@click.option("--tarball", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the release tarball here")
@click.option("--version", default=None, help="Release version (default: next dev version)")
@click.option("--force", is_flag=True, help="Create even if the directory has uncommitted changes")
def create_release_command(release_dir: Path, tarball: Path | None, version: str | None, force: bool) -> None:
    """Build a versioned release tarball from a BOSH-layout release directory."""
    created = create_release(release_dir, tarball=tarball, version=version, force=force)
    console.print(f"Release name: {created.name}\nRelease version: {created.version}\n"
                  f"Release tarball: {created.tarball}")


@click.command("upload-release")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
def upload_release(source: Path) -> None:
    """Upload a release tarball (or a release directory, created first)."""
    if source.is_dir():
        source = create_release(source).tarball
    director = client()
    follow(director, director.upload("/releases", source))


@click.command()
@json_option
def releases(as_json: bool) -> None:
    """List uploaded releases."""
    rows = client().get("/releases")
    print_table("Releases", ["Name", "Version", "Commit Hash"],
                [[r["name"], r["version"] + ("*" if r["in_use"] else ""), r.get("commit_hash") or ""] for r in rows],
                as_json, rows)


@click.command("upload-stemcell")
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload_stemcell(tarball: Path) -> None:
    """Upload a stemcell tarball (stemcell.MF + image)."""
    director = client()
    follow(director, director.upload("/stemcells", tarball))


@click.command()
@json_option
def stemcells(as_json: bool) -> None:
    """List uploaded stemcells: one row per copy, each in the CPI that holds it."""
    rows = client().get("/stemcells")
    print_table("Stemcells", ["Name", "Version", "OS", "CPI", "CID"],
                [[s["name"], s["version"], s["os"], s.get("cpi", ""), s["cid"]] for s in rows],
                as_json, rows)


@click.command("delete-stemcell")
@yes_option
@click.argument("name_version", metavar="NAME/VERSION")
def delete_stemcell(yes: bool, name_version: str) -> None:
    """Delete a stemcell no deployment uses: its copy in every CPI that holds one."""
    name, _, version = name_version.partition("/")
    if not name or not version:
        raise BoshPyError(f"Expected NAME/VERSION (as `bosh-py stemcells` lists them), got '{name_version}'")
    confirm(yes)
    director = client()
    follow(director, director.delete(f"/stemcells/{name}/{version}"))


@click.group("stemcell")
def stemcell_group() -> None:
    """Build stemcells."""


@stemcell_group.command("build-local")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/var/cache/bosh-py/stemcell"), show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def build_local(cache_dir: Path, output: Path | None) -> None:
    """Build (once, then cached) the local CPI's Debian stemcell with debootstrap."""
    from bosh_py.stemcell.local import build_local_stemcell

    output = output or cache_dir / "bosh-py-local-debian-bookworm-1.1.tar"
    path = build_local_stemcell(cache_dir, output)
    console.print(f"Stemcell: {path}")


@stemcell_group.command("build-light")
@click.argument("definition", type=click.Path(path_type=Path))
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="A cloud property of the image: ami.<region>=ami-… (aws), image_id=<uuid> "
                   "(openstack), template=<name> (vsphere); repeatable")
@click.option("--version", default=None, help="Stemcell version (default: the definition's)")
@click.option("--name", default=None,
              help="Stemcell name (default: the definition's; one deployment across several CPIs "
                   "needs one name and version on all of them)")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tarball to write (default: ./light-<name>-<version>.tgz)")
def build_light(definition: Path, assignments: tuple[str, ...], version: str | None, name: str | None,
                output: Path | None) -> None:
    """Write a light stemcell (stemcell.MF naming an existing cloud image, empty image) from a
    definition such as stemcells/aws; upload it with upload-stemcell."""
    from bosh_py.stemcell.light import build_light_stemcell

    built = build_light_stemcell(definition, assignments, version=version, output=output, name=name)
    manifest = built.manifest
    console.print(f"Stemcell: {built.path}\nName: {manifest['name']}\nVersion: {manifest['version']}\n"
                  f"Formats: {', '.join(manifest['stemcell_formats'])}")


COMMANDS = [create_release_command, upload_release, releases, upload_stemcell, stemcells, delete_stemcell,
            stemcell_group]
