"""The workers an API process runs (`director start --workers N`): started beside it, started
again when one dies (as monit restarts BOSH's workers), and ended by PID when it stops."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

from bosh_py.director.worker import WORKER_MODULE, die_with_parent

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0  # seconds between a worker's death and its replacement
STOP_TIMEOUT = 30.0  # seconds a worker has to cancel its tasks before SIGKILL


class WorkerPool:
    def __init__(self, count: int, config_path: Path | None) -> None:
        self.count = count
        self.config_path = config_path
        self.processes: list[subprocess.Popen] = []

    def _start_one(self) -> subprocess.Popen:
        command = [sys.executable, "-m", WORKER_MODULE]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        # stdout and stderr: the director's own (its log); the worker ends if this process dies
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        log.info("started worker pid %d", process.pid)
        return process

    async def run_forever(self) -> None:
        self.processes = [self._start_one() for _ in range(self.count)]
        while True:
            await asyncio.sleep(RESTART_DELAY)
            for slot, process in enumerate(self.processes):
                if process.poll() is not None:
                    log.warning("worker pid %d exited with %s; starting another", process.pid, process.returncode)
                    self.processes[slot] = self._start_one()

    async def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop within %gs; killing it", process.pid, STOP_TIMEOUT)
                process.kill()
                await asyncio.to_thread(process.wait)
