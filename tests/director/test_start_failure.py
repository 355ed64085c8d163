"""A director that cannot start leaves nothing running: its nats-server (started first) is
stopped again when a later step fails, here the blobstore's port being taken."""

from __future__ import annotations

import os
import socket
import time

from tests.harness import BIN, LocalDirector, free_port


def nats_servers_of(data_dir) -> list[int]:
    """PIDs of nats-server processes whose configuration lives in ``data_dir``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"nats-server") and any(str(data_dir).encode() in a for a in args):
            found.append(int(entry))
    return found


def test_a_taken_blobstore_port_fails_the_start_and_stops_its_nats_server(tmp_path):
    local = LocalDirector(tmp_path / "d")
    local.env = {**os.environ, "BOSH_PY_CONFIG": str(tmp_path / "cli.json"), "PATH": f"{BIN}:{os.environ['PATH']}"}
    nats_port = free_port()
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", free_port()))
        taken.listen()
        result = local.cli("director", "start", "--data-dir", str(local.data_dir), "--api-port", str(free_port()),
                           "--nats-port", str(nats_port), "--blobstore-port", str(taken.getsockname()[1]),
                           check=False, timeout=120)
    try:
        assert result.returncode == 1, result.stdout + result.stderr
        deadline = time.monotonic() + 10
        while nats_servers_of(local.data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert nats_servers_of(local.data_dir) == []
        with socket.socket() as probe:  # no one listens on the nats port any more (as a server binds)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", nats_port))
            probe.listen()
    finally:
        for pid in nats_servers_of(local.data_dir):  # only if the test failed: ours, by PID
            os.kill(pid, 15)
        local.cli("director", "stop", "--data-dir", str(local.data_dir), check=False, timeout=60)
