"""`bosh-py ssh`, `bosh-py scp` and `bosh-py logs`.

ssh makes a one-time key, has the director authorize it on the VM, connects with the
system's ssh client pinned to the VM's host key, and revokes the key afterwards (also on
SIGTERM or SIGHUP). If the CLI is killed outright, the key still stops working on its own:
the director authorizes it for logging in during KEY_LIFETIME seconds only.
`ssh -c CMD` on a group (or on every instance) and `scp` use the same one-time key on each
selected instance and reach them in parallel through fabric, pinned to each host key
(bosh_py/ssh/fanout.py).
logs downloads the tarball the director fetched, then deletes it from the director.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import click

from bosh_py.cli.client import DirectorClient
from bosh_py.cli.common import client, deployment_option, follow
from bosh_py.cli.output import console
from bosh_py.errors import BoshPyError
from bosh_py.ssh import fanout
from bosh_py.ssh.keys import KeyPair, generate_keypair
from bosh_py.ssh.pinned_fabric import private_key

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


def selected_instances(director: DirectorClient, deployment: str, selector: str) -> list[dict]:
    """Instances with a VM that ``selector`` names: GROUP, GROUP/ID or GROUP/INDEX."""
    group, _, which = selector.partition("/")
    rows = director.get(f"/deployments/{deployment}/instances")
    chosen = [r for r in rows if r["group"] == group and r.get("vm_cid")
              and (not which or which in (r["id"], str(r["index"])))]
    if not chosen:
        raise BoshPyError(f"No instance with a VM matches '{selector}' in deployment '{deployment}'")
    return sorted(chosen, key=lambda r: r["index"])


class OneTimeAccess:
    """The one-time key authorized on each selected instance, revoked on exit (also on
    SIGTERM/SIGHUP); what fanout needs to reach them."""

    def __init__(self, director: DirectorClient, deployment: str, instances: list[dict]) -> None:
        self.director, self.path = director, f"/deployments/{deployment}/ssh"
        self.instances = [row["instance"] for row in instances]
        self.key: KeyPair = generate_keypair("bosh-py-ssh-session")
        self.authorized: list[str] = []
        self.targets: list[fanout.Target] = []

    def __enter__(self) -> Self:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _exit_on_hangup)
        try:
            for instance in self.instances:
                answer = self.director.post(self.path, json={"instance": instance, "public_key": self.key.public_key,
                                                             "action": "setup", "expires_in": KEY_LIFETIME})
                self.authorized.append(instance)
                self.targets.append(fanout.Target(answer["instance"], answer["host"], answer["user"],
                                                  answer["host_public_key"]))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        problems = []
        for instance in self.authorized:
            try:
                self.director.post(self.path, json={"instance": instance, "public_key": self.key.public_key,
                                                    "action": "cleanup"})
            except Exception as error:  # noqa: BLE001 - the others are still revoked; the key expires anyway
                problems.append(f"{instance}: {error}")
        self.authorized = []
        if problems:
            console.print(f"Revoking the one-time key failed on {'; '.join(problems)} "
                          f"(it stops working on its own within {KEY_LIFETIME}s)")


def _report(outcomes: list[fanout.Outcome], verb: str) -> None:
    head, failures = fanout.summary(outcomes, verb)
    click.echo(head)
    for line in failures:
        click.echo(f"  {line}")
    if failures:
        raise SystemExit(1)


def _run_on_all(director: DirectorClient, deployment: str, rows: list[dict], command: str) -> None:
    with OneTimeAccess(director, deployment, rows) as access:
        pkey = private_key(access.key.private_key, "one-time key")
        outcomes = fanout.run_everywhere(access.targets, pkey, command,
                                         out=click.echo, err=lambda line: click.echo(line, err=True))
    _report(outcomes, "Succeeded")


@click.command()
@deployment_option
@click.argument("instance")
@click.option("-c", "--command", "command", default=None,
              help="Run this command instead of a shell; on every instance of a GROUP in parallel")
def ssh(deployment: str, instance: str, command: str | None) -> None:
    """Open a shell (or run a command) on an instance: GROUP/ID or GROUP/INDEX.

    With -c and a GROUP (no /ID), the command runs on all of the group's instances in
    parallel, each output line prefixed with the instance, then a summary; the exit code
    is 1 if it failed anywhere. With -c and one GROUP/ID, the output is the command's own.
    """
    director = client()
    remove_stale_key_dirs()
    if "/" not in instance:
        rows = selected_instances(director, deployment, instance)
        if command is not None:
            _run_on_all(director, deployment, rows, command)
            return
        if len(rows) > 1:
            raise BoshPyError(f"'{instance}' has {len(rows)} instances: an interactive shell needs one "
                              f"(GROUP/ID or GROUP/INDEX), or give -c to run a command on all of them")
        instance = rows[0]["instance"]
    _ssh_one(director, deployment, instance, command)


def _ssh_one(director: DirectorClient, deployment: str, instance: str, command: str | None) -> None:
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


REMOTE = re.compile(r"(?P<selector>[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?):(?P<path>.+)")


def parse_scp_sides(source: str, destination: str) -> tuple[str, str, str, bool]:
    """(selector, remote path, local path, upload?) from `scp` arguments: exactly one side is
    GROUP[/ID]:PATH. An absolute or ./ local path never counts as remote."""
    def remote(side: str) -> re.Match[str] | None:
        return None if side.startswith(("/", ".")) else REMOTE.fullmatch(side)

    src, dst = remote(source), remote(destination)
    if bool(src) == bool(dst):
        raise BoshPyError(f"scp: exactly one of SRC and DST must be GROUP[/ID]:PATH "
                          f"(got '{source}' and '{destination}')")
    if dst:
        return dst["selector"], dst["path"], source, True
    assert src is not None
    return src["selector"], src["path"], destination, False


def download_destination(local: Path, remote_path: str, several: bool) -> Callable[[fanout.Target], Path]:
    """Where each instance's copy lands: with one instance, ``local`` (or ``local/NAME`` when it
    is a directory); with several, ``local/GROUP.ID/NAME``, one subdirectory per instance."""
    name = Path(remote_path).name

    def of(target: fanout.Target) -> Path:
        if several:
            return local / target.name.replace("/", ".") / name
        return local / name if local.is_dir() else local
    return of


@click.command()
@deployment_option
@click.argument("source")
@click.argument("destination")
def scp(deployment: str, source: str, destination: str) -> None:
    """Copy a file to or from instances: `scp FILE GROUP[/ID]:PATH` uploads to every selected
    instance; `scp GROUP[/ID]:PATH DIR` downloads, into DIR/GROUP.ID/ when several."""
    selector, remote_path, local_side, upload = parse_scp_sides(source, destination)
    local = Path(local_side)
    if upload and not local.is_file():
        raise BoshPyError(f"scp: '{local_side}' is not a file (directories are not copied)")
    director = client()
    remove_stale_key_dirs()
    rows = selected_instances(director, deployment, selector)
    if not upload and len(rows) > 1:
        if local.exists() and not local.is_dir():
            raise BoshPyError(f"scp: '{local_side}' must be a directory to download from {len(rows)} instances")
        local.mkdir(parents=True, exist_ok=True)
    with OneTimeAccess(director, deployment, rows) as access:
        pkey = private_key(access.key.private_key, "one-time key")
        if upload:
            outcomes = fanout.upload_everywhere(access.targets, pkey, local, remote_path)
        else:
            outcomes = fanout.download_everywhere(access.targets, pkey, remote_path,
                                                  download_destination(local, remote_path, len(rows) > 1))
    for outcome in outcomes:
        if outcome.ok:
            click.echo(f"{outcome.name}: {'uploaded ' + local_side if upload else 'downloaded ' + remote_path}")
    _report(outcomes, "Copied")


@click.command()
@deployment_option
@click.argument("instance", required=False)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="Where to write the logs tarball")
@click.option("-f", "--follow", "live", is_flag=True, help="Follow the logs live (all instances without INSTANCE) until Ctrl-C")
@click.option("--job", "jobs", multiple=True, help="With --follow: only this job's logs (repeatable)")
@click.option("--num", "lines", type=int, default=10, show_default=True, help="With --follow: lines to show first")
def logs(deployment: str, instance: str | None, directory: Path, live: bool, jobs: tuple[str, ...],
         lines: int) -> None:
    """Fetch an instance's job logs (/var/vcap/sys/log) as a tarball, or follow them (-f).

    With --follow, every line is prefixed with its instance, as `bosh logs -f` does."""
    if live:
        from bosh_py.cli.logs_follow import follow_logs
        raise SystemExit(follow_logs(client(), deployment, instance, jobs, lines, out=click.echo,
                                     err=lambda line: click.echo(line, err=True)))
    if instance is None or jobs:
        raise BoshPyError("logs: give INSTANCE (GROUP/ID or GROUP/INDEX) to fetch a tarball; --job needs --follow")
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


COMMANDS = [ssh, scp, logs]
