"""`bosh-py ssh` and `bosh-py logs`.

ssh makes a one-time key, has the director authorize it on the VM, connects with the
system's ssh client pinned to the VM's host key, and revokes the key afterwards (also on
SIGTERM or SIGHUP). If the CLI is killed outright, the key still stops working on its own:
the director authorizes it for logging in during KEY_LIFETIME seconds only.
logs downloads the tarball the director fetched, then deletes it from the director.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import click

from bosh_py.cli.common import client, deployment_option, follow
from bosh_py.cli.output import console
from bosh_py.errors import BoshPyError
from bosh_py.ssh.keys import generate_keypair

KEY_LIFETIME = 120  # seconds: enough to connect; an open session is not cut when it passes
KEY_DIR_PREFIX = "bosh-py-ssh-"


def _exit_on_hangup(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, which revokes the key


def remove_stale_key_dirs(max_age: float = KEY_LIFETIME) -> None:
    """Private keys of earlier sessions whose CLI was killed (their keys have expired on the
    VM): this user's key directories older than ``max_age`` seconds."""
    cutoff = time.time() - max_age
    for path in Path(tempfile.gettempdir()).glob(f"{KEY_DIR_PREFIX}*"):
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


@click.command()
@deployment_option
@click.argument("instance")
@click.option("-c", "--command", "command", default=None, help="Run this command instead of a shell")
def ssh(deployment: str, instance: str, command: str | None) -> None:
    """Open a shell (or run a command) on an instance: GROUP/ID or GROUP/INDEX."""
    director = client()
    remove_stale_key_dirs()
    key = generate_keypair("bosh-py-ssh-session")
    path = f"/deployments/{deployment}/ssh"
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_hangup)
    target = director.post(path, json={"instance": instance, "public_key": key.public_key, "action": "setup",
                                       "expires_in": KEY_LIFETIME})
    with tempfile.TemporaryDirectory(prefix=KEY_DIR_PREFIX, ignore_cleanup_errors=True) as tmp:
        key_file = Path(tmp) / "id"
        key_file.write_text(key.private_key)
        key_file.chmod(0o600)
        known_hosts = Path(tmp) / "known_hosts"
        known_hosts.write_text(f"{target['host']} {target['host_public_key']}\n")
        argv = ["ssh", "-i", str(key_file), "-o", f"UserKnownHostsFile={known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                f"{target['user']}@{target['host']}"]
        if command:
            argv.append(command)
        try:
            status = subprocess.call(argv)
        except FileNotFoundError as error:
            raise BoshPyError("`bosh-py ssh` needs the ssh client (Debian: apt-get install openssh-client)") from error
        finally:
            director.post(path, json={"instance": instance, "public_key": key.public_key, "action": "cleanup"})
    raise SystemExit(status)


@click.command()
@deployment_option
@click.argument("instance")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Where to write the logs tarball")
def logs(deployment: str, instance: str, directory: Path) -> None:
    """Fetch an instance's job logs (/var/vcap/sys/log) as a tarball."""
    director = client()
    final = follow(director, director.post(f"/deployments/{deployment}/logs", json={"instance": instance}))
    blob_id = final["result"]
    name = f"{deployment}.{instance.replace('/', '.')}-{time.strftime('%Y%m%d-%H%M%S')}.tgz"
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / name
    director.download(f"/resources/{blob_id}", dest)
    director.delete(f"/resources/{blob_id}")  # the director keeps no copy of the logs
    try:
        with tarfile.open(dest) as archive:
            count = sum(1 for m in archive.getmembers() if m.isfile())
    except tarfile.TarError as error:
        raise BoshPyError(f"Downloaded logs are not a valid tarball: {error}") from error
    console.print(f"Downloading resource '{blob_id}' to '{dest}' ({count} files)")


COMMANDS = [ssh, logs]
