"""``python3 -m cf_platform.log_server --config log_server.json``: serve until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .config import ConfigError, LogServerConfig
from .drain_source import DrainSource
from .server import LogServer
from .status import start_status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cf_platform.log_server", description="Cloud Foundry log server")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        config = LogServerConfig.load(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, config.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    server = LogServer(config)
    try:
        server.serve()
    except OSError as error:
        print(f"log server: cannot listen on {config.listen_address}:{config.port}: {error}", file=sys.stderr)
        return 1
    try:
        status = start_status(server, config)   # CF v1's status port; NATS in the background
    except OSError as error:
        assert config.status is not None
        print(f"log server: cannot listen on {config.status.listen_address}:{config.status.port} "
              f"(status port): {error}", file=sys.stderr)
        server.shutdown()
        return 1
    drains = DrainSource(config.cc_url, config.cc_internal_user, config.cc_internal_password,
                         config.drain_refresh_interval, config.static_drains, server.drains.update,
                         config.cc_timeout)
    drains.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    if status is not None:
        status.stop()
    drains.stop()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
