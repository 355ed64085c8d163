"""The agent's log: /var/vcap/bosh/log/current (rotated), plus stderr. Callers log
methods, ids and outcomes, never arguments that may hold secrets (settings, env, spec
properties)."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, level: int = logging.INFO) -> logging.Logger:
    log_dir.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter(FORMAT)
    file_handler = logging.handlers.RotatingFileHandler(
        log_dir / "current", maxBytes=10 * 1024 * 1024, backupCount=3)
    file_handler.setFormatter(formatter)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(formatter)
    log = logging.getLogger("bosh_py.agent")
    log.setLevel(level)
    log.propagate = False
    log.handlers[:] = [file_handler, stream]
    nats_log = logging.getLogger("nats")
    nats_log.setLevel(logging.WARNING)
    nats_log.handlers[:] = [file_handler, stream]
    nats_log.propagate = False
    return log
