"""What the HM's DEA-loss tests need beyond tests/cf/cc/plumbing.py: a DEA stand-in that says
its heartbeat interval (as the real DEA does) and can fall silent, abruptly (a killed VM) or
for a while (a slow DEA); and a nats-server that can be stopped and started again on the
same port with the same user (a bus blip). Everything binds 127.0.0.1; every process is
ended by its PID."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.cf.cc.plumbing import NATS_SERVER, DeaStandIn, Nats, end_process, wait_port


@dataclass
class SilenceableDea(DeaStandIn):
    """A DEA stand-in whose heartbeats say ``interval`` and stop while ``silent`` is set."""
    silent: bool = False
    stopped: bool = False

    def stop(self) -> None:
        self.stopped = True
        super().stop()

    def heartbeat_message(self) -> dict:
        return {**super().heartbeat_message(), "interval": self.heartbeat_interval}

    async def _heartbeat_loop(self) -> None:
        assert self.heartbeat_interval
        while True:
            if not self.silent:
                await self._nc.publish("dea.heartbeat", json.dumps(self.heartbeat_message()).encode())
            await asyncio.sleep(self.heartbeat_interval)


def restart_nats(nats_: Nats, workdir: Path, down_for: float) -> Nats:
    """End nats-server, wait ``down_for`` seconds, start it again on the same port and user."""
    end_process(nats_.proc)
    time.sleep(down_for)
    log = open(workdir / "nats-server.log", "ab")  # noqa: SIM115 - the server's output, closed with it
    proc = subprocess.Popen([str(NATS_SERVER), "-a", "127.0.0.1", "-p", str(nats_.port), "--user", nats_.user,
                             "--pass", nats_.password], stdout=log, stderr=log)
    try:
        wait_port(nats_.port, proc=proc)
    except BaseException:
        end_process(proc)
        raise
    return Nats(nats_.port, nats_.user, nats_.password, proc)
