"""Release and stemcell commands (create-release is in release_dev_cmds): upload-release, releases,
inspect-release, delete-release, clean-up, export-release,
upload-stemcell, stemcells, delete-stemcell, `stemcell build-local` for the local CPI's stemcell and
`stemcell build-light` for a cloud's light stemcell."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import click

from bosh_py.cli.common import (
    client,
    confirm,
    deployment_option,
    follow,
    json_option,
    yes_option,
)
from bosh_py.cli.output import console, print_table
from bosh_py.errors import BoshPyError
from bosh_py.release.create import create_release


@click.command("upload-release")
@click.argument("source")
@click.option("--sha1", default=None, help="Digest the tarball must have: 40 hex digits (SHA-1) or sha256:HEX")
@click.option("--name", default=None, help="With --version: the release a URL holds; not downloaded if stored")
@click.option("--version", default=None, help="With --name: the version a URL holds")
@click.option("--fix", is_flag=True, help="Replace the stored jobs and packages of this name and version")
def upload_release(source: str, sha1: str | None, name: str | None, version: str | None, fix: bool) -> None:
    """Upload a release: a tarball, a release directory (created first), or an http(s) URL
    the director downloads."""
    if source.startswith(("http://", "https://")):
        if bool(name) != bool(version):
            raise BoshPyError("--name and --version go together (the release the URL holds)")
        body = {"location": source, "sha1": sha1, "name": name, "version": version, "fix": fix}
        director = client()
        follow(director, director.post("/releases", json=body))
        return
    if name or version:
        raise BoshPyError("--name/--version are for URLs; a tarball says its own name and version")
    path = Path(source)
    if not path.exists():
        raise BoshPyError(f"Release '{source}': no such file or directory (nor an http(s) URL)")
    if path.is_dir():
        path = create_release(path).tarball
    director = client()
    params = {"fix": "true"} if fix else {}
    if sha1:
        params["sha1"] = sha1
    follow(director, director.upload("/releases", path, **params))


@click.command()
@json_option
def releases(as_json: bool) -> None:
    """List uploaded releases: * marks a version a deployment uses, + uncommitted changes."""
    rows = client().get("/releases")
    print_table("Releases", ["Name", "Version", "Commit Hash"],
                [[r["name"], r["version"] + ("*" if r["in_use"] else ""),
                  (r.get("commit_hash") or "") + ("+" if r.get("uncommitted_changes") else "")] for r in rows],
                as_json, rows)


def _name_version(value: str, what: str = "NAME/VERSION") -> tuple[str, str]:
    name, _, version = value.partition("/")
    if not name or not version or "/" in version:
        raise BoshPyError(f"Expected {what}, got '{value}'")
    return name, version


@click.command("inspect-release")
@json_option
@click.argument("name_version", metavar="NAME/VERSION")
def inspect_release(as_json: bool, name_version: str) -> None:
    """Show a release version's jobs and packages, with fingerprints and the stemcells each
    package is compiled for."""
    name, version = _name_version(name_version)
    shown = client().get(f"/releases/{quote(name, safe='')}/{quote(version, safe='')}")
    if as_json:
        console.print_json(data=shown)
        return
    print_table("Jobs", ["Job", "Fingerprint", "Digest", "Packages"],
                [[j["name"], j["fingerprint"], j["sha1"] or "", ", ".join(j["packages"])] for j in shown["jobs"]],
                False, shown["jobs"])
    print_table("Packages", ["Package", "Fingerprint", "Source", "Compiled For"],
                [[p["name"], p["fingerprint"], "yes" if p["source"] else "no (compiled only)",
                  ", ".join(p["compiled_for"]) or "(none)"] for p in shown["packages"]],
                False, shown["packages"])


@click.command("delete-release")
@yes_option
@click.option("--force", is_flag=True, help="Delete even if a deployment uses it")
@click.argument("name_version", metavar="NAME[/VERSION]")
def delete_release(yes: bool, force: bool, name_version: str) -> None:
    """Delete a release version (or every version of a release) and the blobs only it used."""
    name, _, version = name_version.partition("/")
    if not name:
        raise BoshPyError(f"Expected NAME or NAME/VERSION, got '{name_version}'")
    confirm(yes)
    director = client()
    params = {"force": "true"} if force else {}
    if version:
        params["version"] = version
    follow(director, director.delete(f"/releases/{quote(name, safe='')}", params=params))


@click.command("clean-up")
@yes_option
@click.option("--all", "remove_all", is_flag=True,
              help="Remove every unused release and stemcell, and orphaned disks, not only older ones")
def clean_up(yes: bool, remove_all: bool) -> None:
    """Remove unused release versions and stemcells (all but the newest 2 of each, or all with
    --all), orphaned disks (--all), and blobs nothing refers to."""
    confirm(yes)
    director = client()
    final = follow(director, director.post("/cleanup", json={"all": remove_all}))
    console.print(final.get("result") or "")


@click.command("export-release")
@click.argument("release", metavar="NAME/VERSION")
@click.argument("stemcell", metavar="OS/VERSION")
@deployment_option
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to write the compiled release tarball")
def export_release(release: str, stemcell: str, deployment: str, directory: Path) -> None:
    """Export a release compiled for a stemcell, from the packages DEPLOYMENT compiled."""
    name, version = _name_version(release)
    os_name, os_version = _name_version(stemcell, "OS/VERSION")
    director = client()
    final = follow(director, director.post("/releases/export", json={
        "deployment_name": deployment, "release_name": name, "release_version": version,
        "stemcell_os": os_name, "stemcell_version": os_version}))
    blob_id = str(final["result"])
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = directory / f"{name}-{version}-{os_name}-{os_version}-{stamp}.tgz"
    directory.mkdir(parents=True, exist_ok=True)
    director.download(f"/releases/exports/{blob_id}", target)
    director.delete(f"/releases/exports/{blob_id}")
    console.print(f"Exported release: {target}")


@click.command("upload-stemcell")
@click.argument("tarball", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def upload_stemcell(tarball: Path) -> None:
    """Upload a stemcell tarball (stemcell.MF + image)."""
    director = client()
    follow(director, director.upload("/stemcells", tarball))


@click.command()
@json_option
def stemcells(as_json: bool) -> None:
    """List uploaded stemcells: one row per copy, each in the CPI that holds it; * marks a
    stemcell a deployment uses."""
    rows = client().get("/stemcells")
    print_table("Stemcells", ["Name", "Version", "OS", "CPI", "CID"],
                [[s["name"], s["version"] + ("*" if s.get("in_use") else ""), s["os"], s.get("cpi", ""), s["cid"]]
                 for s in rows],
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


COMMANDS = [upload_release, releases, upload_stemcell, stemcells, delete_stemcell,
            stemcell_group, inspect_release, delete_release, clean_up, export_release]
