"""`bosh-py director start|stop|status`: run a local director as a daemon.

Its settings live in DATA_DIR/director.json; `start` writes the CLI config (0600) with the
admin credentials so later commands just work, and never prints the password.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from bosh_py.cli.config import CliConfig, save_cli_config
from bosh_py.cli.output import console
from bosh_py.director.config import DEFAULT_DATA_DIR, CpiConfig, DirectorConfig
from bosh_py.director.private_files import open_private_append, private_dir
from bosh_py.director.uaa_auth import uaa_settings
from bosh_py.errors import BoshPyError

DIRECTOR_MODULE = "bosh_py.director.main"


@click.group("director")
def director_group() -> None:
    """Run the local director."""


def _pid(data_dir: Path) -> int | None:
    """The running director's pid, or None. Its command line must name the director: a
    killed director is a zombie until init reaps it (its command line is empty then, though
    signal 0 still reaches it), and a pid may have been recycled since."""
    try:
        pid = int((data_dir / "director.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if DIRECTOR_MODULE.encode() in cmdline.split(b"\0") else None


def _config_file(data_dir: Path) -> Path:
    return data_dir / "director.json"


@director_group.command("start")
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True)
@click.option("--api-port", type=int, default=None)
@click.option("--nats-port", type=int, default=None)
@click.option("--blobstore-port", type=int, default=None)
@click.option("--agent-endpoint-host", default=None, help="Address VMs use to reach the director")
@click.option("--cpi", "cpi_executable", default=None, help="CPI executable")
@click.option("--cpi-config", default=None, help="CPI config file")
@click.option("--uaa-url", default=None, help="Also accept tokens of this UAA (https; http on 127.0.0.1 only)")
@click.option("--uaa-ca-cert", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CA certificate of the UAA's https")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Task worker processes beside the API (0: tasks run in the API process)")
def start(data_dir: Path, api_port: int | None, nats_port: int | None, blobstore_port: int | None,
          agent_endpoint_host: str | None, cpi_executable: str | None, cpi_config: str | None,
          uaa_url: str | None, uaa_ca_cert: str | None, workers: int | None) -> None:
    """Start the director in the background (idempotent; settings given are kept in
    DATA_DIR/director.json and take effect at the next start if it runs already)."""
    data_dir = data_dir.resolve()
    private_dir(data_dir)
    path = _config_file(data_dir)
    config = DirectorConfig.load(path) if path.exists() else DirectorConfig(data_dir=data_dir)
    updates: dict = {"data_dir": data_dir}
    for key, value in (("api_port", api_port), ("nats_port", nats_port), ("blobstore_port", blobstore_port),
                       ("agent_endpoint_host", agent_endpoint_host), ("workers", workers)):
        if value is not None:
            updates[key] = value
    if cpi_executable or cpi_config:
        updates["cpi"] = CpiConfig(executable=cpi_executable or config.cpi.executable,
                                   config_path=cpi_config or config.cpi.config_path)
    if uaa_url or uaa_ca_cert:
        updates["uaa"] = uaa_settings(config, uaa_url, uaa_ca_cert)
    config = config.model_copy(update=updates)
    config.save(path)

    if _pid(data_dir) is None:
        log = open_private_append(data_dir / "director.log")
        process = subprocess.Popen([sys.executable, "-m", DIRECTOR_MODULE, "--config", str(path)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        (data_dir / "director.pid").write_text(str(process.pid))
        _wait_for_api(config, process, data_dir)
    secrets = json.loads(config.secrets_path.read_text())
    url = f"http://{config.api_host}:{config.api_port}"
    saved = save_cli_config(CliConfig(url=url, user="admin", password=secrets["admin_password"]))
    console.print(f"Director '{config.name}' running at {url} (credentials in {saved})")


def _wait_for_api(config: DirectorConfig, process: subprocess.Popen, data_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (data_dir / "director.log").read_text().splitlines()[-15:]
            raise BoshPyError("The director exited at start:\n" + "\n".join(tail))
        try:
            httpx.get(f"http://{config.api_host}:{config.api_port}/info", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise BoshPyError(f"The director did not answer within 60s; see {data_dir / 'director.log'}")


@director_group.command("worker")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The director's director.json (PostgreSQL and a shared blobstore "
              "for a worker on another machine)")
def worker(config_path: Path) -> None:
    """Run a task worker in the foreground beside a running director (docs/director-workers.md)."""
    import asyncio
    import logging

    from bosh_py.director.worker import serve_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve_worker(DirectorConfig.load(config_path)))


@director_group.command("stop")
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True)
def stop(data_dir: Path) -> None:
    """Stop the director (VMs keep running; a restarted director finds them again)."""
    pid = _pid(data_dir)
    if pid is None:
        console.print("Director is not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _pid(data_dir) is not None:
        time.sleep(0.1)
    if _pid(data_dir) is not None:
        os.kill(pid, signal.SIGKILL)
    (data_dir / "director.pid").unlink(missing_ok=True)
    console.print("Director stopped")


@director_group.command("status")
@click.option("--data-dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True)
def status(data_dir: Path) -> None:
    pid = _pid(data_dir)
    console.print(f"Director {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    if pid is None:
        sys.exit(1)
