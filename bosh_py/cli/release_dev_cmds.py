"""Release authoring commands, run in a release directory without a director:
create-release (dev and --final) and vendor-package."""

from __future__ import annotations

from pathlib import Path

import click

from bosh_py.cli.output import console
from bosh_py.release.create import create_release
from bosh_py.release.vendor import vendor_package

_RELEASE_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("create-release")
@click.argument("release_dir", type=_RELEASE_DIR, default=Path("."))
@click.option("--tarball", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the release tarball here")
@click.option("--final", is_flag=True,
              help="Make a final release: next integer version, final builds in config/final.yml's blobstore")
@click.option("--version", default=None, help="Release version (default: next dev version, or next final one)")
@click.option("--force", is_flag=True, help="Create even if the directory has uncommitted changes")
def create_release_command(release_dir: Path, tarball: Path | None, final: bool, version: str | None,
                           force: bool) -> None:
    """Build a versioned release tarball from a BOSH-layout release directory."""
    created = create_release(release_dir, tarball=tarball, version=version, force=force, final=final)
    console.print(f"Release name: {created.name}\nRelease version: {created.version}\n"
                  f"Release tarball: {created.tarball}")


@click.command("vendor-package")
@click.argument("package")
@click.argument("src_release_dir", type=_RELEASE_DIR)
@click.option("--dir", "release_dir", type=_RELEASE_DIR, default=Path("."), show_default=True,
              help="The release that vendors the package")
def vendor_package_command(package: str, src_release_dir: Path, release_dir: Path) -> None:
    """Vendor PACKAGE (and its dependencies) from the release in SRC_RELEASE_DIR: a final build
    there, copied into this release's final blobstore, locked in packages/PACKAGE/spec.lock."""
    for vendored in vendor_package(package, src_release_dir, release_dir):
        state = "vendored" if vendored.copied else "up to date"
        console.print(f"{vendored.name}: {state} (fingerprint {vendored.fingerprint})")


COMMANDS = [create_release_command, vendor_package_command]
